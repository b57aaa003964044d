package handlers

import (
	"context"
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

// testSend queues one console test send to openid through q: an ordinary
// delivery (the user is created when WeChat's push has not yet made it).
func testSend(ctx context.Context, db *gorm.DB, q Enqueuer, a *models.App, t *models.Template, openid, page string, data map[string]string) (int64, error) {
	u, err := models.EnsureUser(ctx, db, a.ID, openid)
	if err != nil {
		return 0, err
	}
	d, _, err := q.Enqueue(ctx, models.NewDelivery{AppID: a.ID, UserID: u.ID, TemplateID: t.ID, OpenID: openid, Page: page, Data: data})
	if err != nil {
		return 0, err
	}
	return d.ID, nil
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
