package handlers

import (
	"context"
	"strconv"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// QueueSender is the TestSender of a console whose delivery engine runs: a
// test send is an ordinary delivery, so it goes through the same credit,
// value, rate-limit and retry path as every other message.
type QueueSender struct {
	DB     *gorm.DB
	Engine Enqueuer
}

// Enqueuer queues a delivery and wakes the send workers.
type Enqueuer interface {
	Enqueue(ctx context.Context, nd models.NewDelivery) (*models.Delivery, bool, error)
}

// TestSend implements TestSender.
func (s QueueSender) TestSend(ctx context.Context, app *models.App, tpl *models.Template, openid, page string, data map[string]string) (int64, error) {
	u, err := models.EnsureUser(ctx, s.DB, app.ID, openid)
	if err != nil {
		return 0, err
	}
	d, _, err := s.Engine.Enqueue(ctx, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID,
		OpenID: openid, Page: page, Data: data})
	if err != nil {
		return 0, err
	}
	return d.ID, nil
}

// Outcome implements TestSender: done once WeChat has answered (sent) or the
// delivery ended without a call.
func (s QueueSender) Outcome(ctx context.Context, id int64, lang string) (bool, bool, string, error) {
	d, err := models.GetDelivery(ctx, s.DB, id)
	if err != nil {
		return false, false, "", err
	}
	done, ok, msg := DescribeDelivery(d, lang)
	return done, ok, msg, nil
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
		return true, false, tr("delivery.skipped." + d.Reason)
	}
	if d.ErrCode != 0 {
		return true, false, tr("wechat.error", d.ErrCode, wechat.Explain(d.ErrCode, lang))
	}
	return true, false, tr("delivery.failed." + d.Reason)
}

func msgID(d *models.Delivery) string {
	if d.MsgID == nil {
		return "—"
	}
	return strconv.FormatInt(*d.MsgID, 10)
}
