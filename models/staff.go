package models

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
)

// Role is a staff member's role.
type Role string

// The three roles. Admins may do everything; operators run campaigns;
// support looks people up.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleSupport  Role = "support"
)

// Roles lists every role in display order.
var Roles = []Role{RoleAdmin, RoleOperator, RoleSupport}

// Valid tells whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Staff is a person who signs in to the console.
type Staff struct {
	ID           int64
	Email        string
	Name         string
	PasswordHash string
	Role         Role
	Lang         string
	Disabled     bool
	LastLoginAt  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName pins the table name.
func (Staff) TableName() string { return "staff" }

// bcryptCost is the cost used for new password hashes.
const bcryptCost = bcrypt.DefaultCost

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 10

// HashPassword returns the bcrypt hash of pw.
func HashPassword(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	return string(b), err
}

// CheckPassword tells whether pw matches the staff member's hash.
func (s *Staff) CheckPassword(pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(s.PasswordHash), []byte(pw)) == nil
}

// dummyHash is compared against when an email is unknown, so a login
// takes as long for unknown accounts as for known ones.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("minipush-dummy-password"), bcrypt.DefaultCost)

// CheckDummyPassword spends the time of one bcrypt comparison.
func CheckDummyPassword(pw string) { _ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw)) }

// NormalizeEmail trims and lower-cases an email address.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// CountStaff counts staff rows (0 means the setup page is shown).
func CountStaff(ctx context.Context, db *gorm.DB) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&Staff{}).Count(&n).Error
	return n, err
}

// CreateStaff inserts a staff member with a hashed password.
func CreateStaff(ctx context.Context, db *gorm.DB, email, name, password string, role Role, lang string) (*Staff, error) {
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	if lang == "" {
		lang = "zh"
	}
	s := &Staff{Email: NormalizeEmail(email), Name: strings.TrimSpace(name), PasswordHash: hash, Role: role, Lang: lang}
	if err := db.WithContext(ctx).Create(s).Error; err != nil {
		return nil, translate(err)
	}
	return s, nil
}

// ErrSetupDone is returned by CreateFirstAdmin once any staff exist.
var ErrSetupDone = errors.New("setup is already done: sign in instead")

// CreateFirstAdmin creates the first admin, only while no staff exist. It
// runs in one write transaction so two racing setup requests cannot both win.
func CreateFirstAdmin(ctx context.Context, db *gorm.DB, email, name, password, lang string) (*Staff, error) {
	var out *Staff
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Model(&Staff{})
		if IsMySQL(tx) {
			// Lock the (empty) range so a concurrent setup waits for us.
			q = q.Clauses(lockingClause())
		}
		var n int64
		if err := q.Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrSetupDone
		}
		s, err := CreateStaff(ctx, tx, email, name, password, RoleAdmin, lang)
		out = s
		return err
	})
	return out, err
}

// GetStaff loads one staff member by id.
func GetStaff(ctx context.Context, db *gorm.DB, id int64) (*Staff, error) {
	var s Staff
	if err := db.WithContext(ctx).First(&s, id).Error; err != nil {
		return nil, translate(err)
	}
	return &s, nil
}

// GetStaffByEmail loads one staff member by email.
func GetStaffByEmail(ctx context.Context, db *gorm.DB, email string) (*Staff, error) {
	var s Staff
	if err := db.WithContext(ctx).Where("email = ?", NormalizeEmail(email)).First(&s).Error; err != nil {
		return nil, translate(err)
	}
	return &s, nil
}

// ListStaff returns all staff ordered by email (staff lists are small).
func ListStaff(ctx context.Context, db *gorm.DB) ([]Staff, error) {
	var out []Staff
	err := db.WithContext(ctx).Order("email").Find(&out).Error
	return out, err
}

// CountActiveAdmins counts admins who are not disabled.
func CountActiveAdmins(ctx context.Context, db *gorm.DB) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&Staff{}).Where("role = ? AND disabled = ?", RoleAdmin, false).Count(&n).Error
	return n, err
}

// UpdateStaffFields writes the named columns of a staff row (a map, so
// false and "" are written too).
func UpdateStaffFields(ctx context.Context, db *gorm.DB, id int64, fields map[string]any) error {
	fields["updated_at"] = time.Now().UTC()
	res := db.WithContext(ctx).Model(&Staff{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetStaffPassword replaces a password hash and ends the person's other sessions.
func SetStaffPassword(ctx context.Context, db *gorm.DB, id int64, password, keepSession string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := UpdateStaffFields(ctx, tx, id, map[string]any{"password_hash": hash}); err != nil {
			return err
		}
		return DeleteStaffSessions(ctx, tx, id, keepSession)
	})
}
