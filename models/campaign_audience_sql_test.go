package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The attribute conditions run in SQL on each dialect; Audience.Match (Go)
// is the reference. Every condition is counted both ways over users whose
// attributes cover strings, numbers as numbers and as strings, booleans,
// JSON null, a missing key, case and Chinese text, and a row that is not
// JSON at all.
func TestAudienceFiltersInSQLMatchGo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, _ := campaignFixture(t, db, 0)
		attrs := []string{
			`{"city":"sh","age":25,"vip":true,"score":"12"}`,
			`{"city":"SH","age":2.5,"vip":false,"score":"12abc"}`,
			`{"city":"上海","age":"40","vip":null,"score":"-3.5"}`,
			`{"city":"beijing","age":41,"score":"1e2"}`,
			`{"city":null,"age":"forty","note":"a \"quoted\" word"}`,
			`{"city":"shanghai","age":-7,"score":12}`,
			`{}`,
			``,
			`not json`,
			`{"city":"sh ","age":40,"vip":"true"}`,
		}
		now := time.Now().UTC()
		var jsons []string
		for i, a := range attrs {
			u := &models.User{AppID: app.ID, OpenID: fmt.Sprintf("o_sql_%02d", i), Attributes: a, Tags: "[]", CreatedAt: now, UpdatedAt: now}
			if err := db.Create(u).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Exec("INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at) VALUES (?,?,1,?,?,?,?)",
				u.ID, tpl.ID, false, models.SubAccept, now, now).Error; err != nil {
				t.Fatal(err)
			}
			jsons = append(jsons, a)
		}
		conds := []models.Cond{
			{Attr: "city", Op: "eq", Value: "sh"}, {Attr: "city", Op: "eq", Value: "上海"}, {Attr: "city", Op: "ne", Value: "sh"},
			{Attr: "city", Op: "contains", Value: "sh"}, {Attr: "city", Op: "contains", Value: "海"}, {Attr: "city", Op: "exists"},
			{Attr: "vip", Op: "exists"}, {Attr: "vip", Op: "eq", Value: "true"}, {Attr: "vip", Op: "eq", Value: "false"}, {Attr: "vip", Op: "ne", Value: "true"},
			{Attr: "age", Op: "gt", Value: "24"}, {Attr: "age", Op: "lt", Value: "10"}, {Attr: "age", Op: "eq", Value: "40"}, {Attr: "age", Op: "eq", Value: "2.5"},
			{Attr: "age", Op: "gt", Value: "not a number"}, {Attr: "score", Op: "gt", Value: "11"}, {Attr: "score", Op: "lt", Value: "0"},
			{Attr: "score", Op: "eq", Value: "12"}, {Attr: "note", Op: "contains", Value: `"quoted"`}, {Attr: "missing", Op: "ne", Value: "x"},
			{Attr: "missing", Op: "exists"}, {Attr: `we"ird`, Op: "eq", Value: "x"},
		}
		check := func(name string, a models.Audience) {
			t.Helper()
			want := int64(0)
			for _, js := range jsons {
				if a.Match("[]", js) {
					want++
				}
			}
			c := newCampaign(t, db, app, tpl, a)
			got, err := models.CountAudience(ctx, db, c, tpl, 100)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.Size != want {
				t.Errorf("%s: SQL counts %d, Go matches %d", name, got.Size, want)
			}
			if got.Sampled != want { // the sample is read with the same filter
				t.Errorf("%s: sampled %d of %d", name, got.Sampled, want)
			}
		}
		for _, cd := range conds {
			check(fmt.Sprintf("%s %s %q", cd.Attr, cd.Op, cd.Value), models.Audience{Kind: models.AudienceAttrs, Conds: []models.Cond{cd}})
		}
		check("two conditions", models.Audience{Kind: models.AudienceAttrs, Conds: []models.Cond{conds[3], conds[10]}})
		check("no condition", models.Audience{Kind: models.AudienceAttrs})
		check("no tag", models.Audience{Kind: models.AudienceTags})
	})
}

// Tags are read from user_tags: a user holding one of several tags is
// counted once, and another account's tags do not count.
func TestAudienceTagsInSQL(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, users := campaignFixture(t, db, 12) // vip: 0,3,6,9
		db.Exec("INSERT INTO user_tags (app_id, tag, user_id) VALUES (?, 'new', ?), (?, 'new', ?), (?, 'new', ?)",
			app.ID, users[0].ID, app.ID, users[1].ID, app.ID+1000, users[2].ID)
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceTags, Tags: []string{"vip", "new"}})
		got, err := models.CountAudience(ctx, db, c, tpl, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != 5 { // 0,3,6,9 and 1; not 2 (another account's tag)
			t.Fatalf("size %d, want 5", got.Size)
		}
	})
}
