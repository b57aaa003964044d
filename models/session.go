package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Session is a signed-in browser. The cookie carries a random token; the
// row is keyed by its SHA-256, so a database leak yields no live sessions.
type Session struct {
	ID         string // HashToken(cookie value)
	StaffID    int64
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// Slid is set by LookupSession when it moved the expiry on.
	Slid bool `gorm:"-"`
}

// SessionIdle is how long a session lives without use; SessionMaxAge is
// how long it lives at most, used or not: a stolen cookie stops working
// within 12 hours, and a day's work needs one sign-in.
const (
	SessionIdle   = 2 * time.Hour
	SessionMaxAge = 12 * time.Hour
)

// sessionExpiry is when a session created at created and last used at now
// expires: idle time from now, capped by the absolute lifetime.
func sessionExpiry(created, now time.Time) time.Time {
	exp, limit := now.Add(SessionIdle), created.Add(SessionMaxAge)
	if exp.After(limit) {
		return limit
	}
	return exp
}

// CreateSession stores a new session and returns the cookie token.
func CreateSession(ctx context.Context, db *gorm.DB, staffID int64, ip, ua string, now time.Time) (string, error) {
	token := RandomToken(32)
	if r := []rune(ua); len(r) > 180 { // cut on a character boundary: MySQL refuses half a character
		ua = string(r[:180])
	}
	s := Session{ID: HashToken(token), StaffID: staffID, IP: ip, UserAgent: ua,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: sessionExpiry(now, now)}
	if err := db.WithContext(ctx).Create(&s).Error; err != nil {
		return "", err
	}
	return token, nil
}

// LookupSession finds the live session for a cookie token with its staff
// member; expired sessions (idle, or older than SessionMaxAge) and
// disabled staff count as not found.
func LookupSession(ctx context.Context, db *gorm.DB, token string, now time.Time) (*Session, *Staff, error) {
	var s Session
	if err := db.WithContext(ctx).Where("id = ? AND expires_at > ? AND created_at > ?", HashToken(token), now, now.Add(-SessionMaxAge)).
		First(&s).Error; err != nil {
		return nil, nil, translate(err)
	}
	st, err := GetStaff(ctx, db, s.StaffID)
	if err != nil {
		return nil, nil, err
	}
	if st.Disabled {
		return nil, nil, ErrNotFound
	}
	// Slide the expiry, at most once a minute per session.
	if now.Sub(s.LastSeenAt) > time.Minute {
		exp := sessionExpiry(s.CreatedAt, now)
		err := db.WithContext(ctx).Model(&Session{}).Where("id = ?", s.ID).
			Updates(map[string]any{"last_seen_at": now, "expires_at": exp}).Error
		if err == nil {
			s.Slid, s.LastSeenAt, s.ExpiresAt = true, now, exp
		}
	}
	return &s, st, nil
}

// DeleteSession ends one session by its cookie token.
func DeleteSession(ctx context.Context, db *gorm.DB, token string) error {
	return db.WithContext(ctx).Where("id = ?", HashToken(token)).Delete(&Session{}).Error
}

// DeleteStaffSessions ends every session of a staff member except the one
// whose cookie token is keep (may be empty).
func DeleteStaffSessions(ctx context.Context, db *gorm.DB, staffID int64, keep string) error {
	q := db.WithContext(ctx).Where("staff_id = ?", staffID)
	if keep != "" {
		q = q.Where("id <> ?", HashToken(keep))
	}
	return q.Delete(&Session{}).Error
}

// EndOtherSessions ends every session of a staff member except the one
// whose cookie token is keep, and says how many it ended: a new sign-in
// signs the same person out of every other browser.
func EndOtherSessions(ctx context.Context, db *gorm.DB, staffID int64, keep string) (int64, error) {
	res := db.WithContext(ctx).Where("staff_id = ? AND id <> ?", staffID, HashToken(keep)).Delete(&Session{})
	return res.RowsAffected, res.Error
}

// PruneSessions deletes expired sessions.
func PruneSessions(ctx context.Context, db *gorm.DB, now time.Time) (int64, error) {
	res := db.WithContext(ctx).Where("expires_at <= ?", now).Delete(&Session{})
	return res.RowsAffected, res.Error
}
