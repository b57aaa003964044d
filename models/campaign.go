package models

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gorm.io/gorm"
)

// Campaign statuses. A campaign moves draft → (pending_approval) →
// scheduled → running → completed (a recurring one goes back to scheduled
// after each run); paused and canceled by staff. A campaign whose template
// changed or vanished upstream carries a held_reason and does not fire.
const (
	CampaignDraft     = "draft"
	CampaignPending   = "pending_approval"
	CampaignScheduled = "scheduled"
	CampaignRunning   = "running"
	CampaignPaused    = "paused"
	CampaignCompleted = "completed"
	CampaignCanceled  = "canceled"
)

// Schedule kinds.
const (
	ScheduleNow  = "now"
	ScheduleOnce = "once"
	ScheduleCron = "cron"
)

// Misfire policies: what to do with a firing missed while no instance ran.
const (
	MisfireSkip = "skip"
	MisfireRun  = "run" // run it late, once
)

// Campaign status reasons (campaigns.status_reason, runs' reason): stable
// codes the console translates.
const (
	ReasonMisfireSkipped = "misfire_skipped" // a firing missed while no instance ran was skipped
	ReasonOverlapSkipped = "overlap_skipped" // a firing came while the previous run still ran
	ReasonCanceled       = "canceled"        // staff canceled the run (also a delivery skip reason)
	ReasonStaffPause     = "staff"           // staff paused the run
	ReasonEnded          = "ended"           // a recurring campaign passed its end date
)

// Campaign is what to send to whom and when.
type Campaign struct {
	ID            int64
	AppID         int64 `gorm:"column:app_id"`
	TemplateID    int64
	Name          string
	Status        string
	Page          string
	Data          string // JSON: keyword key → Value
	Audience      string // JSON: Audience
	ScheduleKind  string
	RunAt         *time.Time
	CronExpr      string
	Timezone      string
	MisfirePolicy string
	MPState       string `gorm:"column:mp_state"`
	Lang          string
	NextRunAt     *time.Time
	HeldReason    string
	CreatedBy     *int64
	EndAt         *time.Time
	StatusReason  string
	// RejectReason is what the admin who sent it back wrote (shown while
	// StatusReason is ReasonRejected; migration 15).
	RejectReason string `gorm:"column:reject_reason"`
	SubmittedBy  *int64
	ApprovedBy   *int64
	AutoPausePct int
	// AutoPauseWindow: how many of the run's latest answers the automatic
	// pause judges (0: AutoPauseDefaultWindow; migration 10).
	AutoPauseWindow int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Value is one keyword's value: fixed text or text with {{attr}}
// placeholders filled from the user's attributes; when one is missing the
// whole value becomes Fallback (when set; else the delivery is skipped with
// the missing attribute named).
type Value struct {
	Value    string `json:"value"`
	Fallback string `json:"fallback,omitempty"`
}

// Personalised tells whether the value holds a placeholder.
func (v Value) Personalised() bool { return strings.Contains(v.Value, "{{") }

// Values decodes the keyword values.
func (c *Campaign) Values() map[string]Value {
	m := map[string]Value{}
	if c.Data != "" {
		_ = json.Unmarshal([]byte(c.Data), &m)
	}
	return m
}

// SetValues encodes the keyword values.
func (c *Campaign) SetValues(m map[string]Value) {
	b, _ := json.Marshal(m)
	c.Data = string(b)
}

// Audience kinds.
const (
	AudienceSubscribed = "subscribed" // everyone who allowed the template
	AudienceTags       = "tags"       // … and holds one of the tags
	AudienceAttrs      = "attrs"      // … and whose attributes match every condition
	AudienceList       = "list"       // an uploaded list of openids / business ids
)

// Cond is one attribute condition.
type Cond struct {
	Attr  string `json:"attr"`
	Op    string `json:"op"` // eq | ne | contains | gt | lt | exists
	Value string `json:"value,omitempty"`
}

// CondOps are the condition operators.
var CondOps = []string{"eq", "ne", "contains", "gt", "lt", "exists"}

// Audience says who a campaign goes to.
type Audience struct {
	Kind  string   `json:"kind"`
	Tags  []string `json:"tags,omitempty"`
	Conds []Cond   `json:"conds,omitempty"`
	// List: how many lines the upload had, and how many named nobody we know.
	ListLines   int64  `json:"list_lines,omitempty"`
	ListMissing int64  `json:"list_missing,omitempty"`
	ListBy      string `json:"list_by,omitempty"` // openid | business_id
}

// AudienceSpec decodes the audience.
func (c *Campaign) AudienceSpec() Audience {
	a := Audience{Kind: AudienceSubscribed}
	if c.Audience != "" {
		_ = json.Unmarshal([]byte(c.Audience), &a)
	}
	if a.Kind == "" {
		a.Kind = AudienceSubscribed
	}
	return a
}

// SetAudience encodes the audience.
func (c *Campaign) SetAudience(a Audience) {
	b, _ := json.Marshal(a)
	c.Audience = string(b)
}

// Match tells whether a user with these tags (JSON array) and attributes
// (JSON object) belongs to the audience.
func (a *Audience) Match(tagsJSON, attrsJSON string) bool {
	switch a.Kind {
	case AudienceTags:
		var tags []string
		_ = json.Unmarshal([]byte(tagsJSON), &tags)
		for _, want := range a.Tags {
			for _, t := range tags {
				if t == want {
					return true
				}
			}
		}
		return false
	case AudienceAttrs:
		attrs := map[string]any{}
		_ = json.Unmarshal([]byte(attrsJSON), &attrs)
		for _, c := range a.Conds {
			if !c.match(attrs) {
				return false
			}
		}
		return true
	}
	return true
}

func (c Cond) match(attrs map[string]any) bool {
	v, ok := attrs[c.Attr]
	if c.Op == "exists" {
		return ok && v != nil
	}
	if !ok || v == nil {
		return c.Op == "ne"
	}
	s := AttrString(v)
	switch c.Op {
	case "eq":
		return s == c.Value
	case "ne":
		return s != c.Value
	case "contains":
		return strings.Contains(s, c.Value)
	case "gt", "lt":
		a, err1 := strconv.ParseFloat(s, 64)
		b, err2 := strconv.ParseFloat(c.Value, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if c.Op == "gt" {
			return a > b
		}
		return a < b
	}
	return false
}

// AttrString turns an attribute value into message text (as the engine does).
func AttrString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// RenderValues fills the placeholders of each value from attrs (JSON
// object). A value with a missing attribute becomes its fallback; without
// one it keeps its placeholders, so the engine skips the delivery naming the
// missing attribute (invalid_value) and no credit is spent.
func RenderValues(vals map[string]Value, attrsJSON string) map[string]string {
	var attrs map[string]any
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if !v.Personalised() {
			out[k] = v.Value
			continue
		}
		if attrs == nil {
			attrs = map[string]any{}
			if attrsJSON != "" {
				_ = json.Unmarshal([]byte(attrsJSON), &attrs)
			}
		}
		s, ok := fillPlaceholders(v.Value, attrs)
		switch {
		case ok:
			out[k] = s
		case v.Fallback != "":
			out[k] = v.Fallback
		default:
			out[k] = v.Value
		}
	}
	return out
}

func fillPlaceholders(s string, attrs map[string]any) (string, bool) {
	out, missing := RenderValue(s, attrs)
	if missing != "" {
		return s, false
	}
	return out, true
}

// cronParser reads standard five-field expressions and descriptors (@daily).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a five-field cron expression (minute hour day month weekday).
func ParseCron(expr string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("the time zone is set apart, not in the expression")
	}
	if strings.HasPrefix(strings.ToLower(expr), "@every") {
		// The parser's interval form ("@every 1s") is not a calendar
		// schedule: a run would start at every tick of the campaigns job,
		// each sending to the whole audience again.
		return nil, errors.New("@every is not a calendar schedule: use five fields or @hourly, @daily, @weekly, @monthly")
	}
	return cronParser.Parse(expr)
}

// CronFields names the five fields of a cron expression, in order.
var CronFields = [5]string{"minute", "hour", "day", "month", "weekday"}

// BadCronField says what is wrong with an expression ParseCron refused:
// the index in CronFields and the text of the first field that does not
// parse on its own, or -1 when the expression does not have five fields
// (or each field parses alone).
func BadCronField(expr string) (int, string) {
	fs := strings.Fields(expr)
	if len(fs) != len(CronFields) {
		return -1, ""
	}
	for i, f := range fs {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f
		if _, err := cronParser.Parse(strings.Join(probe, " ")); err != nil {
			return i, f
		}
	}
	return -1, ""
}

// LoadZone loads a time zone by its IANA name, as the forms take it: not
// "" (UTC to time.LoadLocation) nor "Local" (the server's zone, which staff
// cannot see).
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errors.New("time zone " + strconv.Quote(name) + ": not an IANA name")
	}
	return time.LoadLocation(name)
}

// Location is the campaign's time zone (the account's by default).
func (c *Campaign) Location() *time.Location {
	if loc, err := time.LoadLocation(c.Timezone); err == nil && c.Timezone != "" {
		return loc
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	if loc == nil {
		return time.UTC
	}
	return loc
}

// NextFirings lists up to n firings of expr in loc strictly after after,
// none after end (when set); in UTC.
func NextFirings(expr string, loc *time.Location, after time.Time, end *time.Time, n int) ([]time.Time, error) {
	s, err := ParseCron(expr)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	t := after
	for len(out) < n {
		t = nextFiring(s, loc, t)
		if t.IsZero() || (end != nil && t.After(*end)) {
			break
		}
		out = append(out, t.UTC())
	}
	return out, nil
}

// nextFiring is the schedule's first firing in loc strictly after after.
//
// Where daylight saving time moves the clock, a schedule at fixed hours
// ("30 1 * * *") fires once for each time on the wall clock, as people
// read it: an hour the clock repeats (autumn) fires at its first
// occurrence only, not twice — twice would send a daily campaign twice
// that day; an hour the clock skips (spring) fires once the clock has
// jumped, late by the length of the jump (02:30 becomes 03:30), instead
// of not at all. A schedule that fires every hour (hour field *) or on an
// interval (@every) keeps to real time, as robfig/cron computes it.
func nextFiring(s cron.Schedule, loc *time.Location, after time.Time) time.Time {
	const everyHour = 1<<24 - 1 // SpecSchedule.Hour: bit h set = fires in hour h
	spec, ok := s.(*cron.SpecSchedule)
	if !ok || spec.Hour&everyHour == everyHour {
		return s.Next(after.In(loc))
	}
	w := wallClock(after.In(loc))
	for {
		w = spec.Next(w) // in UTC: a clock that never jumps
		if w.IsZero() {
			return w
		}
		if t := atWallClock(w, loc); t.After(after) {
			return t
		}
		// The first occurrence of a repeated hour, already past.
	}
}

// wallClock is t's date and time of day, read as UTC.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// atWallClock is the first instant loc's clock shows w (a wall clock read
// as UTC); when loc's clock skips w, w late by the jump.
func atWallClock(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
	if !wallClock(t.In(loc)).Equal(w) {
		// Skipped: read w with the offset in force before the jump (no
		// zone jumps more than 2 hours, nor twice within 3).
		_, before := t.Add(-3 * time.Hour).Zone()
		return w.Add(-time.Duration(before) * time.Second)
	}
	for _, d := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		if e := t.Add(-d); wallClock(e.In(loc)).Equal(w) {
			return e // a repeated hour: its first occurrence
		}
	}
	return t
}

// NextFiring is the campaign's first firing strictly after t (nil: none).
func (c *Campaign) NextFiring(t time.Time) *time.Time {
	switch c.ScheduleKind {
	case ScheduleCron:
		f, err := NextFirings(c.CronExpr, c.Location(), t, c.EndAt, 1)
		if err != nil || len(f) == 0 {
			return nil
		}
		return &f[0]
	case ScheduleOnce:
		if c.RunAt != nil && c.RunAt.After(t) {
			r := c.RunAt.UTC()
			return &r
		}
	}
	return nil
}

// Held tells whether the campaign is held (template drift).
func (c *Campaign) Held() bool { return c.HeldReason != "" }

// Editable tells whether staff may still change what it sends.
func (c *Campaign) Editable() bool {
	switch c.Status {
	case CampaignDraft, CampaignPending, CampaignScheduled:
		return true
	}
	return false
}

// CreateCampaign inserts a campaign.
func CreateCampaign(ctx context.Context, db *gorm.DB, c *Campaign) error {
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	if c.Status == "" {
		c.Status = CampaignDraft
	}
	return translate(db.WithContext(ctx).Create(c).Error)
}

// GetCampaign loads a campaign.
func GetCampaign(ctx context.Context, db *gorm.DB, id int64) (*Campaign, error) {
	var c Campaign
	if err := db.WithContext(ctx).First(&c, id).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// UpdateCampaignFields writes the named columns of a campaign.
func UpdateCampaignFields(ctx context.Context, db *gorm.DB, id int64, fields map[string]any) error {
	fields["updated_at"] = time.Now().UTC()
	res := db.WithContext(ctx).Model(&Campaign{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// CampaignFilter narrows the campaigns list.
type CampaignFilter struct {
	AppID    int64
	Status   string
	BeforeID int64 // keyset: ids below this (0: from the newest)
	Limit    int
}

// ListCampaigns returns campaigns, newest first.
func ListCampaigns(ctx context.Context, db *gorm.DB, f CampaignFilter) ([]Campaign, error) {
	q := db.WithContext(ctx).Model(&Campaign{})
	if f.AppID != 0 {
		q = q.Where("app_id = ?", f.AppID)
	}
	if f.Status == "held" {
		q = q.Where("held_reason <> ''")
	} else if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []Campaign
	err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error
	return out, err
}

// LastRuns returns the latest run of each campaign, by campaign id.
func LastRuns(ctx context.Context, db *gorm.DB, campaignIDs []int64) (map[int64]*CampaignRun, error) {
	out := map[int64]*CampaignRun{}
	if len(campaignIDs) == 0 {
		return out, nil
	}
	var runs []CampaignRun
	err := db.WithContext(ctx).Where("id IN (SELECT MAX(id) FROM campaign_runs WHERE campaign_id IN " + inList(uniq(campaignIDs)) + " GROUP BY campaign_id)").
		Find(&runs).Error
	for i := range runs {
		out[runs[i].CampaignID] = &runs[i]
	}
	return out, err
}

// ListRuns returns a campaign's runs, newest first.
func ListRuns(ctx context.Context, db *gorm.DB, campaignID int64, limit int) ([]CampaignRun, error) {
	var out []CampaignRun
	err := db.WithContext(ctx).Where("campaign_id = ?", campaignID).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// ActiveRun returns the campaign's run that is expanding, sending or
// paused, or ErrNotFound.
func ActiveRun(ctx context.Context, db *gorm.DB, campaignID int64) (*CampaignRun, error) {
	var r CampaignRun
	err := db.WithContext(ctx).Where("campaign_id = ? AND status IN ?", campaignID, activeRunStatuses).
		Order("id DESC").First(&r).Error
	if err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

var activeRunStatuses = []string{RunExpanding, RunSending, RunPaused}

// CloneCampaign copies a campaign (values, audience, schedule, uploaded
// list) into a new draft named name.
func CloneCampaign(ctx context.Context, db *gorm.DB, src *Campaign, name string, by *int64) (*Campaign, error) {
	c := &Campaign{AppID: src.AppID, TemplateID: src.TemplateID, Name: name, Status: CampaignDraft, Page: src.Page,
		Data: src.Data, Audience: src.Audience, ScheduleKind: src.ScheduleKind, RunAt: src.RunAt, CronExpr: src.CronExpr,
		Timezone: src.Timezone, MisfirePolicy: src.MisfirePolicy, MPState: src.MPState, Lang: src.Lang, EndAt: src.EndAt,
		AutoPausePct: src.AutoPausePct, AutoPauseWindow: src.AutoPauseWindow, CreatedBy: by}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := CreateCampaign(ctx, tx, c); err != nil {
			return err
		}
		return tx.Exec(`INSERT INTO campaign_recipients (campaign_id, user_id)
			SELECT ?, user_id FROM campaign_recipients WHERE campaign_id = ?`, c.ID, src.ID).Error
	})
	return c, err
}
