package wechat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errcodes the rest of minipush refers to by name. The full list with
// explanations is in [Explain].
const (
	CodeBusy               = -1
	CodeOK                 = 0
	CodeInvalidCredential  = 40001 // token invalid or not latest (stable_token/token: wrong secret)
	CodeInvalidGrantType   = 40002
	CodeInvalidOpenID      = 40003
	CodeInvalidAppID       = 40013
	CodeInvalidToken       = 40014
	CodeInvalidTemplateID  = 40037
	CodeInvalidAppSecret   = 40125
	CodeIPNotWhitelisted   = 40164
	CodeSecretFrozen       = 40243
	CodeMissingToken       = 41001
	CodeInvalidPage        = 41030
	CodeTokenExpired       = 42001
	CodeUserRefused        = 43101
	CodeSubscribeBanned    = 43107
	CodeConcurrentSend     = 43108
	CodeEmptyBody          = 44002
	CodeDailyQuota         = 45009
	CodeTooFrequent        = 45011
	CodeSensitiveContent   = 45168
	CodeBadJSON            = 47001
	CodeArgumentInvalid    = 47003
	CodeUnauthorized       = 48001
	CodeWrongMethod        = 404
	CodeAccountBanned      = 200011
	CodeTemplateCapReached = 200012
	CodeTemplateBanned     = 200013
	CodeBadTID             = 200014
	CodeBadStart           = 200016
	CodeBadLimit           = 200017
	CodeIDsMissing         = 200018
	CodeIDsInvalid         = 200019
	CodeBadKidList         = 200020
	CodeBadSceneDesc       = 200021
	CodeTemplateExists     = 200022
	CodeSystemError        = 20001
	CodeSystemError2       = 200001
	CodeParamError         = 20002
	CodeParamError2        = 200002
)

// CodeSentUserBlock is the ErrorCode of a subscribe_msg_sent_event whose
// ErrorStatus is "fail:user block" (not a send API errcode).
const CodeSentUserBlock = 10005

// Class says what a caller should do about an error.
type Class int

const (
	// ClassPermanent: WeChat refused this request for good (bad openid,
	// template, page, no subscription, banned, sensitive word, bad argument).
	// Do not retry it unchanged.
	ClassPermanent Class = iota
	// ClassTransient: WeChat was busy or the request never reached it. Retry
	// later with backoff.
	ClassTransient
	// ClassToken: the access token was invalid, not the latest, or expired.
	// The Client already refreshed it and repeated the call once; seeing it
	// here means the repeat failed the same way. Retry later.
	ClassToken
	// ClassQuota: the app's daily quota is used up (45009). Stop this app's
	// sends until the quota resets (midnight, China time).
	ClassQuota
	// ClassUserConcurrency: another send to the same user was in flight
	// (43108). Serialise sends per user and retry later.
	ClassUserConcurrency
	// ClassBug: the request was malformed (missing token, bad JSON, empty body,
	// wrong method). Fix the code; retrying will not help.
	ClassBug
	// ClassConfig: the app's credentials or set-up are wrong (bad AppID or
	// secret, caller IP not whitelisted, secret frozen, API not authorised).
	// An admin must act; every call of this app will fail the same way.
	ClassConfig
	// ClassOutcomeUnknown: the request may have reached WeChat but no answer
	// came back. A send in this state must not be blindly repeated: the
	// subscribe_msg_sent_event settles it.
	ClassOutcomeUnknown
)

var classNames = [...]string{"permanent", "transient", "token", "quota", "user_concurrency", "bug", "config", "outcome_unknown"}

// String returns a stable lower-case name, suitable for logs and metrics.
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Retryable reports whether repeating the same request later may succeed.
// ClassOutcomeUnknown is not retryable: resending may deliver twice.
func (c Class) Retryable() bool {
	switch c {
	case ClassTransient, ClassToken, ClassUserConcurrency:
		return true
	}
	return false
}

// Error is an errcode answered by WeChat. The request reached WeChat and was
// refused: it had no effect (in particular, a send that fails with an *Error
// delivered nothing).
type Error struct {
	Code int    // errcode
	Msg  string // errmsg as received, including the " rid: ..." suffix
	API  string // path of the call, e.g. "/cgi-bin/message/subscribe/send"
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wechat: ")
	if e.API != "" {
		b.WriteString(e.API)
		b.WriteString(": ")
	}
	b.WriteString("errcode ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

// RID returns the request id WeChat appended to errmsg (" rid: 6472dfd0-..."),
// or "" when there is none. Quote it when asking WeChat support.
func (e *Error) RID() string {
	i := strings.LastIndex(e.Msg, "rid:")
	if i < 0 {
		return ""
	}
	rid := strings.TrimSpace(e.Msg[i+len("rid:"):])
	if j := strings.IndexAny(rid, " \t,;"); j >= 0 {
		rid = rid[:j]
	}
	return rid
}

// Field returns the data field a 47003 names ("argument invalid!
// data.thing3.value invalid" gives "thing3"), or "".
func (e *Error) Field() string {
	i := strings.Index(e.Msg, "data.")
	if i < 0 {
		return ""
	}
	rest := e.Msg[i+len("data."):]
	j := strings.IndexAny(rest, ". ")
	if j <= 0 {
		return ""
	}
	return rest[:j]
}

func isTokenAPI(api string) bool {
	return api == pathStableToken || api == pathToken
}

// Class classifies the errcode. Errcodes the token endpoints return about
// credentials (40001 wrong secret there, 40013, 40125, 40164, 40243) are
// ClassConfig; 40001/40014/42001 from any other API are ClassToken. Unknown
// errcodes are ClassPermanent: WeChat answered, so nothing was done, and
// repeating an unexplained refusal forever helps nobody.
func (e *Error) Class() Class {
	if isTokenAPI(e.API) {
		switch e.Code {
		case CodeBusy, CodeTooFrequent:
			return ClassTransient
		case CodeDailyQuota:
			return ClassQuota
		case CodeInvalidGrantType, CodeBadJSON, CodeEmptyBody, CodeWrongMethod:
			return ClassBug
		}
		return ClassConfig
	}
	switch e.Code {
	case CodeBusy, CodeTooFrequent, CodeSystemError, CodeSystemError2:
		return ClassTransient
	case CodeInvalidCredential, CodeInvalidToken, CodeTokenExpired:
		return ClassToken
	case CodeDailyQuota:
		return ClassQuota
	case CodeConcurrentSend:
		return ClassUserConcurrency
	case CodeMissingToken, CodeBadJSON, CodeEmptyBody, CodeWrongMethod, CodeInvalidGrantType:
		return ClassBug
	case CodeInvalidAppID, CodeInvalidAppSecret, CodeIPNotWhitelisted, CodeSecretFrozen, CodeUnauthorized, CodeAccountBanned:
		return ClassConfig
	}
	return ClassPermanent
}

// Explain returns a short explanation of the errcode for people, in lang
// ("zh..." for Chinese, anything else for English), in the context of the
// API that returned it.
func (e *Error) Explain(lang string) string {
	if isTokenAPI(e.API) && e.Code == CodeInvalidCredential {
		if isZh(lang) {
			return "获取 access_token 失败：AppSecret 错误，或不属于这个 AppID；请在账号设置里核对 AppSecret"
		}
		return "getting an access token failed: the AppSecret is wrong or belongs to another AppID; check it in the account settings"
	}
	return Explain(e.Code, lang)
}

// Is makes errors.Is(err, &wechat.Error{Code: 43101}) match on the errcode.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.API == "" || t.API == e.API)
}

// ErrOutcomeUnknown matches (errors.Is) a non-idempotent request (send,
// addtemplate, deltemplate) that may have reached WeChat but got no usable
// answer: a timeout or reset after the request was written, a 5xx from a
// proxy, an unreadable response. Do not resend blindly.
var ErrOutcomeUnknown = errors.New("wechat: outcome unknown: the request may have reached WeChat")

// ErrNotSent matches (errors.Is) a request that provably never reached
// WeChat: DNS or dial failure, connection refused, TLS handshake failure, a
// context done before the request was written, or no access token to send
// it with. Retrying it cannot duplicate anything.
var ErrNotSent = errors.New("wechat: request not sent")

// RequestError is a request that got no errcode back from WeChat.
type RequestError struct {
	API string
	// Written is true when the request (or a part of it) may have left this
	// process; false means it provably did not.
	Written bool
	// Idempotent is true for calls that are safe to repeat (reads, token).
	// Only a non-idempotent, written request matches ErrOutcomeUnknown.
	Idempotent bool
	// StatusCode is the HTTP status when a response other than 200 arrived.
	StatusCode int
	Err        error
}

func (e *RequestError) Error() string {
	var state string
	switch {
	case !e.Written:
		state = "not sent"
	case e.Idempotent:
		state = "failed"
	default:
		state = "outcome unknown"
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("wechat: %s: %s: HTTP %d", e.API, state, e.StatusCode)
	}
	return fmt.Sprintf("wechat: %s: %s: %v", e.API, state, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

func (e *RequestError) Is(target error) bool {
	switch target {
	case ErrNotSent:
		return !e.Written
	case ErrOutcomeUnknown:
		return e.Written && !e.Idempotent && !e.Unserved()
	}
	return false
}

// Unserved tells whether the answer was an HTTP 502 or 503: a gateway
// saying no backend took the request. Such a send is transient and retried
// (issue 4: "5xx → retry"). A 500 or 504 (the backend may have acted, or
// timed out while acting) stays outcome unknown, so it is never blindly
// resent: WeChat's sent event settles it.
func (e *RequestError) Unserved() bool {
	return e.StatusCode == 502 || e.StatusCode == 503
}

// TokenError wraps a failure to obtain an access token for a call. The call
// itself was never sent (errors.Is(err, ErrNotSent) is true); Unwrap gives
// the token endpoint's error (often an *Error of ClassConfig).
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "wechat: no access token: " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }
func (e *TokenError) Is(target error) bool {
	return target == ErrNotSent
}

// Classify returns the Class of any error returned by this package.
// A nil error has no class and returns ClassPermanent with false.
func Classify(err error) (Class, bool) {
	if err == nil {
		return ClassPermanent, false
	}
	var te *TokenError
	if errors.As(err, &te) {
		var we *Error
		if errors.As(te.Err, &we) {
			c := we.Class()
			if c == ClassToken {
				c = ClassTransient
			}
			return c, true
		}
		return ClassTransient, true
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Class(), true
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		return ClassOutcomeUnknown, true
	}
	var re *RequestError
	if errors.As(err, &re) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ClassTransient, true
	}
	return ClassBug, true
}

// IsCode reports whether err carries the WeChat errcode code.
func IsCode(err error, code int) bool {
	var we *Error
	return errors.As(err, &we) && we.Code == code
}

func isZh(lang string) bool {
	return len(lang) >= 2 && strings.EqualFold(lang[:2], "zh")
}

type explanation struct{ zh, en string }

var explanations = map[int]explanation{
	CodeBusy:               {"微信系统繁忙，请稍后重试", "WeChat is busy; retry later"},
	CodeOK:                 {"成功", "success"},
	CodeInvalidCredential:  {"access_token 无效或不是最新：已刷新并重试一次", "the access token is invalid or not the latest; it was refreshed and the call repeated once"},
	CodeInvalidGrantType:   {"grant_type 参数错误（程序缺陷）", "bad grant_type (a bug in the caller)"},
	CodeInvalidOpenID:      {"openid 无效：为空、错误，或属于另一个小程序", "invalid openid: empty, wrong, or belonging to another mini program"},
	CodeInvalidAppID:       {"AppID 无效，请核对账号设置", "invalid AppID; check the account settings"},
	CodeInvalidToken:       {"access_token 不合法：已刷新并重试一次", "the access token is not valid; it was refreshed and the call repeated once"},
	CodeInvalidTemplateID:  {"模板 ID 无效：模板不存在、已删除或不属于这个小程序，请重新同步模板", "invalid template ID: it does not exist, was deleted, or belongs to another mini program; sync the templates again"},
	CodeInvalidAppSecret:   {"AppSecret 无效，请核对账号设置", "invalid AppSecret; check the account settings"},
	CodeIPNotWhitelisted:   {"调用方 IP 不在小程序后台的 IP 白名单中，请在微信后台添加本服务器的出口 IP", "the caller's IP is not in the mini program's IP whitelist; add this server's outgoing IP in the WeChat console"},
	CodeSecretFrozen:       {"AppSecret 已被冻结，请在微信后台解冻或重置", "the AppSecret is frozen; unfreeze or reset it in the WeChat console"},
	CodeMissingToken:       {"缺少 access_token 参数（程序缺陷）", "the access_token parameter is missing (a bug in the caller)"},
	CodeInvalidPage:        {"page 无效：页面须存在于已发布的小程序版本中", "invalid page: it must exist in the released version of the mini program"},
	CodeTokenExpired:       {"access_token 已过期：已刷新并重试一次", "the access token expired; it was refreshed and the call repeated once"},
	CodeUserRefused:        {"用户没有这个模板的可用订阅：从未订阅、一次性订阅已用完或已取消订阅；用户需要再次点击允许", "the user has no subscription left for this template (never subscribed, one-time credit used up, or unsubscribed); they must tap allow again"},
	CodeSubscribeBanned:    {"这个账号或模板的订阅消息能力已被封禁", "subscription messages are banned for this account or template"},
	CodeConcurrentSend:     {"同一用户的消息正在发送中：请逐个发送，稍后重试", "another message to the same user was being sent; send to one user at a time and retry later"},
	CodeEmptyBody:          {"请求体为空（程序缺陷）", "the request body was empty (a bug in the caller)"},
	CodeDailyQuota:         {"今日调用次数已达上限：暂停这个小程序的发送，直到北京时间零点重置", "the daily quota is used up; this app's sends pause until it resets at midnight China time"},
	CodeTooFrequent:        {"调用过于频繁，请降低速率后重试", "called too often; slow down and retry"},
	CodeSensitiveContent:   {"内容含有敏感词，请修改消息内容", "the content contains a sensitive word; change the message"},
	CodeBadJSON:            {"请求 JSON 格式错误（程序缺陷）", "the request JSON is malformed (a bug in the caller)"},
	CodeArgumentInvalid:    {"参数无效：errmsg 指出了哪个字段不符合关键词规则", "an argument is invalid; errmsg names the field that breaks its keyword rule"},
	CodeUnauthorized:       {"接口未授权：这个小程序没有调用该接口的权限", "API not authorised for this mini program"},
	CodeWrongMethod:        {"HTTP 方法错误（程序缺陷）", "wrong HTTP method (a bug in the caller)"},
	CodeAccountBanned:      {"账号已被封禁", "the account is banned"},
	CodeTemplateCapReached: {"个人模板数量已达上限，请先删除不用的模板", "the private template limit is reached; delete unused templates first"},
	CodeTemplateBanned:     {"该模板已被封禁", "the template is banned"},
	CodeBadTID:             {"模板标题 tid 无效", "invalid template title id (tid)"},
	CodeBadStart:           {"start 参数无效", "invalid start"},
	CodeBadLimit:           {"limit 参数无效（最大 30）", "invalid limit (at most 30)"},
	CodeIDsMissing:         {"缺少类目 ids 参数", "the category ids are missing"},
	CodeIDsInvalid:         {"类目 ids 无效", "invalid category ids"},
	CodeBadKidList:         {"关键词列表 kidList 无效：需要 2 到 5 个有效关键词", "invalid kidList: 2 to 5 valid keyword ids are required"},
	CodeBadSceneDesc:       {"场景描述 sceneDesc 无效（最多 15 个字）", "invalid sceneDesc (at most 15 characters)"},
	CodeTemplateExists:     {"已存在标题和关键词相同的模板", "a template with the same title and keywords already exists"},
	CodeSystemError:        {"微信系统错误，请稍后重试", "WeChat system error; retry later"},
	CodeSystemError2:       {"微信系统错误，请稍后重试", "WeChat system error; retry later"},
	CodeSentUserBlock:      {"微信的发送结果事件报告失败（fail:user block）：用户拒收了这个小程序的消息，微信没有送达", "WeChat's sent event reported a failure (fail:user block): the user refuses messages from this mini program; it was not delivered"},
	CodeParamError:         {"参数错误", "parameter error"},
	CodeParamError2:        {"参数错误", "parameter error"},
}

// Explain returns a short human explanation of a WeChat errcode: Chinese when
// lang starts with "zh" (zh, zh_CN, zh-CN), English otherwise. The text names
// the code, e.g. "43101: the user has no subscription left for this template
// (...); they must tap allow again".
func Explain(code int, lang string) string {
	ex, ok := explanations[code]
	c := strconv.Itoa(code)
	switch {
	case !ok && isZh(lang):
		return c + "：微信公开的错误码表里没有这个码，请以微信返回的原文为准"
	case !ok:
		return c + ": not in WeChat's published code list; go by WeChat's own text"
	case isZh(lang):
		return c + "：" + ex.zh
	default:
		return c + ": " + ex.en
	}
}
