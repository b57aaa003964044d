package models

import (
	"fmt"
	"os"
)

// NewInstanceID names this process in leases and claims: host (at most 30
// characters), pid and a random tag, so two processes never share a name.
func NewInstanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%.30s-%d-%s", host, os.Getpid(), RandomToken(3))
}
