package models

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"gorm.io/gorm"
)

// TimelineItem is one line of a user's story: a subscription event or a
// message, whichever the line holds.
type TimelineItem struct {
	Event    *SubscriptionEvent
	Delivery *Delivery
}

// TimelineCursor continues a timeline where a page ended: each list by its
// own keyset (0: from the newest).
type TimelineCursor struct{ EventBefore, DeliveryBefore int64 }

// UserTimeline merges a user's subscription events and messages, newest
// first, at most limit lines; next is the cursor of the following page
// (nil on the last).
func UserTimeline(ctx context.Context, db *gorm.DB, userID int64, cur TimelineCursor, limit int) ([]TimelineItem, *TimelineCursor, error) {
	var evs []SubscriptionEvent
	var dls []Delivery
	var err error
	if cur.EventBefore >= 0 {
		if evs, err = ListSubscriptionEvents(ctx, db, userID, cur.EventBefore, limit+1); err != nil {
			return nil, nil, err
		}
	}
	if cur.DeliveryBefore >= 0 {
		if dls, err = ListUserDeliveries(ctx, db, userID, cur.DeliveryBefore, limit+1); err != nil {
			return nil, nil, err
		}
	}
	out, next := mergeTimeline(evs, dls, cur, limit)
	return out, next, nil
}

// mergeTimeline merges one page of events and one of messages (each newest
// first, up to limit+1) into at most limit lines and the next cursor.
func mergeTimeline(evs []SubscriptionEvent, dls []Delivery, cur TimelineCursor, limit int) ([]TimelineItem, *TimelineCursor) {
	out := make([]TimelineItem, 0, limit)
	i, j := 0, 0
	for len(out) < limit && (i < len(evs) || j < len(dls)) {
		takeEv := j >= len(dls) || (i < len(evs) && !evs[i].CreatedAt.Before(dls[j].QueuedAt))
		if takeEv {
			out = append(out, TimelineItem{Event: &evs[i]})
			i++
		} else {
			out = append(out, TimelineItem{Delivery: &dls[j]})
			j++
		}
	}
	if i == len(evs) && j == len(dls) {
		return out, nil
	}
	next := &TimelineCursor{EventBefore: cur.EventBefore, DeliveryBefore: cur.DeliveryBefore}
	if i > 0 {
		next.EventBefore = evs[i-1].ID
	}
	if j > 0 {
		next.DeliveryBefore = dls[j-1].ID
	}
	if i == len(evs) {
		next.EventBefore = -1 // none left
	}
	if j == len(dls) {
		next.DeliveryBefore = -1
	}
	return out, next
}

// UserStory is what a user's page reads: the user's subscriptions, the
// last accept and reject per template, and a page of the timeline.
type UserStory struct {
	Subs             []Subscription
	Accepts, Rejects map[int64]SubscriptionEvent
	Timeline         []TimelineItem
	Next             *TimelineCursor
}

// LoadUserStory reads a user's story with three queries run side by side
// (subscriptions, a page of events, a page of messages: each an index
// range of the user), so the page waits for the slowest rather than the
// sum. The last accept and reject per template come from the events read
// when those are all the user has (nearly always: a page holds limit),
// else from one more query (LastAnswers).
func LoadUserStory(ctx context.Context, db *gorm.DB, userID int64, cur TimelineCursor, limit int) (*UserStory, error) {
	st := &UserStory{}
	var evs []SubscriptionEvent
	var dls []Delivery
	var errs [3]error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		st.Subs, errs[0] = ListUserSubscriptions(ctx, db, userID)
	}()
	go func() {
		defer wg.Done()
		if cur.EventBefore >= 0 {
			evs, errs[1] = ListSubscriptionEvents(ctx, db, userID, cur.EventBefore, limit+1)
		}
	}()
	go func() {
		defer wg.Done()
		if cur.DeliveryBefore >= 0 {
			dls, errs[2] = ListUserDeliveries(ctx, db, userID, cur.DeliveryBefore, limit+1)
		}
	}()
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	st.Timeline, st.Next = mergeTimeline(evs, dls, cur, limit)
	if cur.EventBefore == 0 && len(evs) <= limit { // every event of the user is in evs
		st.Accepts, st.Rejects = lastAnswersOf(evs)
		return st, nil
	}
	var err error
	st.Accepts, st.Rejects, err = LastAnswers(ctx, db, userID)
	return st, err
}

// lastAnswersOf is LastAnswers over a user's events held in memory,
// newest first.
func lastAnswersOf(evs []SubscriptionEvent) (accepts, rejects map[int64]SubscriptionEvent) {
	accepts, rejects = map[int64]SubscriptionEvent{}, map[int64]SubscriptionEvent{}
	for _, e := range evs {
		if e.TemplateID == nil {
			continue
		}
		switch e.Kind {
		case SubEventAccept:
			if _, ok := accepts[*e.TemplateID]; !ok {
				accepts[*e.TemplateID] = e
			}
		case SubEventReject, SubEventChange, SubEventBan:
			if _, ok := rejects[*e.TemplateID]; !ok {
				rejects[*e.TemplateID] = e
			}
		}
	}
	return accepts, rejects
}

// LastAnswers returns, per template, the user's latest accept and latest
// reject (reject, change or ban) events.
func LastAnswers(ctx context.Context, db *gorm.DB, userID int64) (accepts, rejects map[int64]SubscriptionEvent, err error) {
	var ids []int64
	err = db.WithContext(ctx).Raw(`SELECT MAX(id) FROM subscription_events WHERE user_id = ? AND kind IN (?, ?, ?, ?)
		GROUP BY template_id, CASE WHEN kind = ? THEN 1 ELSE 0 END`,
		userID, SubEventAccept, SubEventReject, SubEventChange, SubEventBan, SubEventAccept).Scan(&ids).Error
	if err != nil {
		return nil, nil, err
	}
	accepts, rejects = map[int64]SubscriptionEvent{}, map[int64]SubscriptionEvent{}
	if len(ids) == 0 {
		return accepts, rejects, nil
	}
	var evs []SubscriptionEvent
	if err := db.WithContext(ctx).Where("id IN ?", ids).Find(&evs).Error; err != nil {
		return nil, nil, err
	}
	for _, e := range evs {
		if e.TemplateID == nil {
			continue
		}
		if e.Kind == SubEventAccept {
			accepts[*e.TemplateID] = e
		} else {
			rejects[*e.TemplateID] = e
		}
	}
	return accepts, rejects, nil
}

// TestSendBy returns the email of the staff member who made a console test
// send (from the audit log), or "".
func TestSendBy(ctx context.Context, db *gorm.DB, wxTemplateID string, deliveryID int64) (string, error) {
	var emails []string
	err := db.WithContext(ctx).Model(&AuditEntry{}).
		Where("object_type = ? AND object_id = ? AND action = ? AND detail LIKE ?", "template", wxTemplateID, "template.test_send",
			"%\"delivery\":"+strconv.FormatInt(deliveryID, 10)+",%").
		Limit(1).Pluck("staff_email", &emails).Error
	if err != nil || len(emails) == 0 {
		return "", err
	}
	return emails[0], nil
}

// TestSendersBy returns who made the console test sends of a template
// among deliveryIDs (delivery id → staff email; missing: not found), from
// the audit log in one query rather than one TestSendBy per message.
func TestSendersBy(ctx context.Context, db *gorm.DB, wxTemplateID string, deliveryIDs []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(deliveryIDs) == 0 {
		return out, nil
	}
	q := db.WithContext(ctx).Model(&AuditEntry{}).Select("staff_email, detail").
		Where("object_type = ? AND object_id = ? AND action = ?", "template", wxTemplateID, "template.test_send")
	or := db.Where("detail LIKE ?", "%\"delivery\":"+strconv.FormatInt(deliveryIDs[0], 10)+",%")
	for _, id := range deliveryIDs[1:] {
		or = or.Or("detail LIKE ?", "%\"delivery\":"+strconv.FormatInt(id, 10)+",%")
	}
	var rows []struct {
		StaffEmail string
		Detail     string
	}
	if err := q.Where(or).Limit(len(deliveryIDs) * 2).Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		var d struct {
			Delivery int64 `json:"delivery"`
		}
		if json.Unmarshal([]byte(r.Detail), &d) == nil && d.Delivery != 0 {
			out[d.Delivery] = r.StaffEmail
		}
	}
	return out, nil
}
