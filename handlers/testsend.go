package handlers

import (
	"context"
	"errors"
	"strconv"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
	"gorm.io/gorm"
)

// Enqueuer queues a delivery and wakes the send workers (the delivery
// engine). A console test send is an ordinary delivery, so it goes through
// the same credit, value, rate-limit and retry path as every other message.
type Enqueuer interface {
	Enqueue(ctx context.Context, nd models.NewDelivery) (*models.Delivery, bool, error)
}

// testSend queues one console test send to user u through q: an ordinary
// delivery.
func testSend(ctx context.Context, q Enqueuer, a *models.App, t *models.Template, u *models.User, page string, data map[string]string) (int64, error) {
	d, _, err := q.Enqueue(ctx, models.NewDelivery{AppID: a.ID, UserID: u.ID, TemplateID: t.ID, OpenID: u.OpenID, Page: page, Data: data})
	if err != nil {
		return 0, err
	}
	return d.ID, nil
}

// testRecipient finds the user a test send goes to. A user minipush does
// not know holds no credit (credits come with the taps WeChat pushes or the
// backend reports, which make the user), so the send could only be
// skipped: problem says so, naming the openid, and no user is made.
func testRecipient(ctx context.Context, db *gorm.DB, lang string, appID int64, openid string) (u *models.User, problem string, err error) {
	u, err = models.GetUserByOpenID(ctx, db, appID, openid)
	if errors.Is(err, models.ErrNotFound) {
		return nil, components.Translate(lang, "tpl.test_send_no_user", openid), nil
	}
	return u, "", err
}

// DescribeDelivery says in words where a delivery stands, with WeChat's
// errcode explained: done tells whether it will still change by itself
// before WeChat answers, ok whether the message went out.
func DescribeDelivery(d *models.Delivery, lang string) (done, ok bool, msg string) {
	tr := func(key string, args ...any) string { return components.Translate(lang, key, args...) }
	switch d.Status {
	case models.DeliveryQueued, models.DeliverySending:
		return false, false, tr("delivery.waiting")
	case models.DeliverySent:
		return true, true, tr("delivery.sent", msgID(d))
	case models.DeliveryDelivered:
		return true, true, tr("delivery.delivered", msgID(d))
	case models.DeliveryUnknown:
		return true, false, tr("delivery.unknown")
	case models.DeliverySkipped:
		switch d.Reason {
		case models.ReasonInvalidValue, models.ReasonMissingAttr:
			return true, false, tr("delivery.skipped."+d.Reason, d.ErrMsg) // the keys, or the attribute
		}
		return true, false, tr("delivery.skipped." + d.Reason)
	}
	if d.ErrCode != 0 {
		return true, false, tr("wechat.error", wechat.Explain(d.ErrCode, lang))
	}
	return true, false, tr("delivery.failed." + d.Reason)
}

func msgID(d *models.Delivery) string {
	if d.MsgID == nil {
		return "—"
	}
	return strconv.FormatInt(*d.MsgID, 10)
}
