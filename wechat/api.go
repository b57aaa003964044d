package wechat

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Template types as WeChat numbers them.
const (
	TemplateOneTime  = 2 // each user accept allows one send
	TemplateLongTerm = 3 // one accept allows many sends (public-service categories)
)

// Values of SendRequest.MiniprogramState.
const (
	StateDeveloper = "developer"
	StateTrial     = "trial"
	StateFormal    = "formal"
)

// SendRequest is one subscription message.
type SendRequest struct {
	ToUser     string            // openid in this mini program
	TemplateID string            // private template id (priTmplId)
	Page       string            // optional, e.g. "pages/order/detail?id=1"
	Data       map[string]string // keyword key ("thing1") → value; always strings
	// MiniprogramState is developer, trial or formal (WeChat's default when
	// empty).
	MiniprogramState string
	// Lang is zh_CN (WeChat's default when empty), en_US, zh_HK or zh_TW.
	Lang string
}

type sendValue struct {
	Value string `json:"value"`
}

type sendBody struct {
	ToUser           string               `json:"touser"`
	TemplateID       string               `json:"template_id"`
	Page             string               `json:"page,omitempty"`
	Data             map[string]sendValue `json:"data"`
	MiniprogramState string               `json:"miniprogram_state,omitempty"`
	Lang             string               `json:"lang,omitempty"`
}

type sendResponse struct {
	baseResponse
	MsgID FlexInt `json:"msgid"`
}

// Send sends one subscription message and returns WeChat's msgid (above
// 2^53; it comes back as MsgID in subscribe_msg_sent_event).
//
// Send is not idempotent. Its error is one of:
//   - *Error: WeChat refused the message; nothing was delivered. See Class.
//   - matching ErrNotSent: the request never left; safe to retry.
//   - matching ErrOutcomeUnknown: it may have been delivered; do not resend
//     blindly, wait for subscribe_msg_sent_event.
//
// A token error (40001/40014/42001) is handled inside: the token is dropped
// (compare-and-swap), refreshed and the send repeated once; WeChat did not
// accept the first attempt, so this cannot deliver twice.
func (c *Client) Send(ctx context.Context, r SendRequest) (msgID int64, err error) {
	body := sendBody{
		ToUser:           r.ToUser,
		TemplateID:       r.TemplateID,
		Page:             r.Page,
		Data:             make(map[string]sendValue, len(r.Data)),
		MiniprogramState: r.MiniprogramState,
		Lang:             r.Lang,
	}
	for k, v := range r.Data {
		body.Data[k] = sendValue{v}
	}
	out, err := callJSON[sendResponse](ctx, c, roundTripArgs{method: http.MethodPost, path: pathSend, body: body})
	if err != nil {
		return 0, err
	}
	return int64(out.MsgID), nil
}

// Quota is an API's daily call quota.
type Quota struct {
	DailyLimit int64 `json:"daily_limit"`
	Used       int64 `json:"used"`
	Remain     int64 `json:"remain"`
}

type quotaResponse struct {
	baseResponse
	Quota struct {
		DailyLimit FlexInt `json:"daily_limit"`
		Used       FlexInt `json:"used"`
		Remain     FlexInt `json:"remain"`
	} `json:"quota"`
}

// GetQuota returns the daily quota of an API path; "" means the send API.
func (c *Client) GetQuota(ctx context.Context, cgiPath string) (Quota, error) {
	if cgiPath == "" {
		cgiPath = pathSend
	}
	out, err := callJSON[quotaResponse](ctx, c, roundTripArgs{
		method: http.MethodPost, path: pathQuota, idempotent: true,
		body: map[string]string{"cgi_path": cgiPath},
	})
	if err != nil {
		return Quota{}, err
	}
	return Quota{int64(out.Quota.DailyLimit), int64(out.Quota.Used), int64(out.Quota.Remain)}, nil
}

// Category is a template category of the account.
type Category struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type categoryResponse struct {
	baseResponse
	Data []struct {
		ID   FlexInt `json:"id"`
		Name string  `json:"name"`
	} `json:"data"`
}

// GetCategory lists the account's categories (getcategory).
func (c *Client) GetCategory(ctx context.Context) ([]Category, error) {
	out, err := callJSON[categoryResponse](ctx, c, roundTripArgs{method: http.MethodGet, path: PathGetCategory, idempotent: true})
	if err != nil {
		return nil, err
	}
	cats := make([]Category, 0, len(out.Data))
	for _, d := range out.Data {
		cats = append(cats, Category{ID: int64(d.ID), Name: d.Name})
	}
	return cats, nil
}

// PubTemplateTitle is a title in the public template library.
type PubTemplateTitle struct {
	TID        int64  `json:"tid"`
	Title      string `json:"title"`
	Type       int    `json:"type"` // TemplateOneTime or TemplateLongTerm
	CategoryID string `json:"categoryId"`
}

type pubTitlesResponse struct {
	baseResponse
	Count FlexInt `json:"count"`
	Data  []struct {
		TID        FlexInt    `json:"tid"`
		Title      string     `json:"title"`
		Type       FlexInt    `json:"type"`
		CategoryID FlexString `json:"categoryId"`
	} `json:"data"`
}

// GetPubTemplateTitles lists public template titles of the given categories
// (getpubtemplatetitles); start is 0-based, limit at most 30. It returns the
// page and the total count.
func (c *Client) GetPubTemplateTitles(ctx context.Context, categoryIDs []int64, start, limit int) ([]PubTemplateTitle, int, error) {
	ids := make([]string, len(categoryIDs))
	for i, id := range categoryIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	q := url.Values{"ids": {strings.Join(ids, ",")}, "start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(limit)}}
	out, err := callJSON[pubTitlesResponse](ctx, c, roundTripArgs{method: http.MethodGet, path: PathGetPubTitles, query: q, idempotent: true})
	if err != nil {
		return nil, 0, err
	}
	titles := make([]PubTemplateTitle, 0, len(out.Data))
	for _, d := range out.Data {
		titles = append(titles, PubTemplateTitle{TID: int64(d.TID), Title: d.Title, Type: int(d.Type), CategoryID: string(d.CategoryID)})
	}
	return titles, int(out.Count), nil
}

// PubTemplateKeyword is a keyword a public template title offers.
type PubTemplateKeyword struct {
	KID     int64  `json:"kid"`
	Name    string `json:"name"`
	Example string `json:"example"`
	Rule    string `json:"rule"` // the keyword type: thing, time, amount...
}

type pubKeywordsResponse struct {
	baseResponse
	Count FlexInt `json:"count"`
	Data  []struct {
		KID     FlexInt `json:"kid"`
		Name    string  `json:"name"`
		Example string  `json:"example"`
		Rule    string  `json:"rule"`
	} `json:"data"`
}

// GetPubTemplateKeywords lists the keywords of a public template title
// (getpubtemplatekeywords).
func (c *Client) GetPubTemplateKeywords(ctx context.Context, tid int64) ([]PubTemplateKeyword, error) {
	q := url.Values{"tid": {strconv.FormatInt(tid, 10)}}
	out, err := callJSON[pubKeywordsResponse](ctx, c, roundTripArgs{method: http.MethodGet, path: PathGetPubKeyword, query: q, idempotent: true})
	if err != nil {
		return nil, err
	}
	kws := make([]PubTemplateKeyword, 0, len(out.Data))
	for _, d := range out.Data {
		kws = append(kws, PubTemplateKeyword{KID: int64(d.KID), Name: d.Name, Example: d.Example, Rule: d.Rule})
	}
	return kws, nil
}

// AddTemplateRequest picks keywords of a public title for a private template.
type AddTemplateRequest struct {
	TID       int64   // public title id
	KidList   []int64 // 2 to 5 keyword ids, in display order
	SceneDesc string  // at most 15 characters
}

type addTemplateBody struct {
	TID       string  `json:"tid"`
	KidList   []int64 `json:"kidList"`
	SceneDesc string  `json:"sceneDesc,omitempty"`
}

type addTemplateResponse struct {
	baseResponse
	PriTmplID string `json:"priTmplId"`
}

// AddTemplate adds a private template from the public library (addtemplate)
// and returns its priTmplId. It is not idempotent (a second call answers
// 200022).
func (c *Client) AddTemplate(ctx context.Context, r AddTemplateRequest) (string, error) {
	out, err := callJSON[addTemplateResponse](ctx, c, roundTripArgs{
		method: http.MethodPost, path: PathAddTemplate,
		body: addTemplateBody{strconv.FormatInt(r.TID, 10), r.KidList, r.SceneDesc},
	})
	if err != nil {
		return "", err
	}
	return out.PriTmplID, nil
}

// DelTemplate deletes a private template (deltemplate).
func (c *Client) DelTemplate(ctx context.Context, priTmplID string) error {
	_, err := callJSON[baseResponse](ctx, c, roundTripArgs{
		method: http.MethodPost, path: PathDelTemplate,
		body: map[string]string{"priTmplId": priTmplID},
	})
	return err
}

// Template is a private template of the account.
type Template struct {
	PriTmplID string `json:"priTmplId"`
	Title     string `json:"title"`
	Content   string `json:"content"` // "订单号:{{character_string1.DATA}}\n..."
	Example   string `json:"example"`
	Type      int    `json:"type"` // TemplateOneTime or TemplateLongTerm
	// Enums maps an enum keyword key ("enum_string2") to its allowed values,
	// from keywordEnumValueList.
	Enums map[string][]string `json:"enums,omitempty"`
}

// Keywords parses Content and attaches the enum values of enum keywords.
func (t Template) Keywords() ([]Keyword, error) {
	kws, err := ParseContent(t.Content)
	if err != nil {
		return nil, err
	}
	for i := range kws {
		if v, ok := t.Enums[kws[i].Key]; ok {
			kws[i].Enum = v
		}
	}
	return kws, nil
}

type getTemplateResponse struct {
	baseResponse
	Data []struct {
		PriTmplID            string  `json:"priTmplId"`
		Title                string  `json:"title"`
		Content              string  `json:"content"`
		Example              string  `json:"example"`
		Type                 FlexInt `json:"type"`
		KeywordEnumValueList []struct {
			KeywordCode   string   `json:"keywordCode"`
			EnumValueList []string `json:"enumValueList"`
		} `json:"keywordEnumValueList"`
	} `json:"data"`
}

// GetTemplates lists the account's private templates (gettemplate), with
// the values of enum keywords.
func (c *Client) GetTemplates(ctx context.Context) ([]Template, error) {
	out, err := callJSON[getTemplateResponse](ctx, c, roundTripArgs{method: http.MethodGet, path: PathGetTemplate, idempotent: true})
	if err != nil {
		return nil, err
	}
	ts := make([]Template, 0, len(out.Data))
	for _, d := range out.Data {
		t := Template{PriTmplID: d.PriTmplID, Title: d.Title, Content: d.Content, Example: d.Example, Type: int(d.Type)}
		for _, e := range d.KeywordEnumValueList {
			if t.Enums == nil {
				t.Enums = make(map[string][]string)
			}
			t.Enums[strings.TrimSuffix(e.KeywordCode, ".DATA")] = e.EnumValueList
		}
		ts = append(ts, t)
	}
	return ts, nil
}
