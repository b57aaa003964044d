//go:build !linux

package main

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent's; here a
// killed bench or drill may leave its child processes running.
func dieWithParent(*exec.Cmd) {}
