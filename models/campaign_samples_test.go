package models_test

import (
	"testing"
	"time"

	"github.com/minipush/minipush/models"
)

// Sends per minute come from each minute's last sample less the previous
// minute's; a minute without a sample is drawn empty and its sends land in
// the next minute that has one; counters that go back (a sent message
// failing later) never make a negative bar.
func TestSendsPerMinute(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 10, 0, time.UTC)
	s := func(sec int, acc, del, fail int64) models.RunSample {
		return models.RunSample{At: t0.Add(time.Duration(sec) * time.Second), Accepted: acc, Delivered: del, Failed: fail}
	}
	got := models.SendsPerMinute([]models.RunSample{
		s(0, 10, 0, 0), s(30, 60, 5, 1), // 09:00
		s(55, 100, 40, 2), // 09:01
		// 09:02: none
		s(175, 250, 90, 2), // 09:03
		s(200, 249, 95, 3), // 09:03 later: one sent message failed
	}, 0)
	want := []models.MinuteSends{
		{Minute: t0.Truncate(time.Minute), Accepted: 60, Delivered: 5, Failed: 1},
		{Minute: t0.Truncate(time.Minute).Add(time.Minute), Accepted: 40, Delivered: 35, Failed: 1},
		{Minute: t0.Truncate(time.Minute).Add(2 * time.Minute)},
		{Minute: t0.Truncate(time.Minute).Add(3 * time.Minute), Accepted: 149, Delivered: 55, Failed: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d minutes: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("minute %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if last := models.SendsPerMinute([]models.RunSample{s(0, 1, 0, 0), s(200, 2, 0, 0)}, 2); len(last) != 2 || last[1].Accepted != 1 {
		t.Fatalf("limited to the last 2 minutes: %+v", last)
	}
}
