package components

// usersCatalog holds the strings of users, deliveries, API keys, import and the JSON API.
var usersCatalog = map[string][2]string{
	// API keys (admin)
	"apikey.create":         {"创建 API 密钥", "Create API key"},
	"apikey.account":        {"小程序账号", "Account"},
	"apikey.account_help":   {"密钥只能操作这个账号的用户和消息。", "The key can only touch this account's users and messages."},
	"apikey.name":           {"名称", "Name"},
	"apikey.name_help":      {"谁在用它，例如 order-service。", "Who uses it, e.g. order-service."},
	"apikey.prefix":         {"前缀", "Prefix"},
	"apikey.created_by":     {"创建人", "Created by"},
	"apikey.created_at":     {"创建时间", "Created"},
	"apikey.last_used":      {"最近使用", "Last used"},
	"apikey.calls":          {"调用次数", "Calls"},
	"apikey.never_used":     {"从未使用", "Never used"},
	"apikey.by_cli":         {"命令行", "command line"},
	"apikey.status.active":  {"有效", "Active"},
	"apikey.status.revoked": {"已吊销", "Revoked"},
	"apikey.revoke":         {"吊销", "Revoke"},
	"apikey.revoke_confirm": {"吊销密钥“%s”？使用它的系统将立即无法调用 API，此操作无法撤销。", "Revoke the key “%s”? Systems using it can no longer call the API, at once. This cannot be undone."},
	"apikey.revoked":        {"已吊销密钥“%s”。", "Key “%s” revoked."},
	"apikey.created_title":  {"已创建密钥“%s”", "Key “%s” created"},
	"apikey.created_hint":   {"请立即复制保存：密钥只显示这一次，minipush 只保存它的哈希。", "Copy it now: the key is shown only this once; minipush keeps only its hash."},
	"apikey.usage_hint":     {"调用 /api/v1 时在请求头中带上 Authorization: Bearer <密钥>。接口说明见 /api/v1/openapi.json。", "Send it as Authorization: Bearer <key> when calling /api/v1. The API is described at /api/v1/openapi.json."},
	"apikey.empty":          {"还没有 API 密钥", "No API keys yet"},
	"apikey.empty_hint":     {"业务后台通过 API 密钥同步用户、上报订阅结果、发送消息。在上方创建一个，或运行 minipush apikey create。", "Business backends use a key to upsert users, report subscriptions and send messages. Create one above, or run minipush apikey create."},
	"apikey.no_apps":        {"还没有小程序账号", "No accounts yet"},
	"apikey.no_apps_hint":   {"密钥属于一个账号：请先在“小程序账号”中添加。", "A key belongs to one account: add one under Accounts first."},
}
