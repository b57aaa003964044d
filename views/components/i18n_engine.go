package components

// engineCatalog holds the strings of the delivery engine: skip and failure
// reasons, and why an account's sends are paused.
var engineCatalog = map[string][2]string{
	"delivery.skipped.missing_attribute":   {"未发送：该用户没有消息需要的属性“%s”。请为用户设置该属性，或修改消息内容。", "Not sent: the user has no attribute \"%s\" that the message asks for. Set it for the user, or change the message."},
	"delivery.skipped.bad_data":            {"未发送：保存的消息内容无法读取（不是字符串键值对象）。", "Not sent: the stored message data cannot be read (not a JSON object of strings)."},
	"delivery.skipped.template_unreadable": {"未发送：模板保存的关键词无法读取，请重新同步模板。", "Not sent: the template's stored keywords cannot be read; sync the templates again."},
	"pause.wechat_45009":                   {"微信返回 45009：今日发送额度已用完，北京时间零点后恢复发送。", "WeChat 45009: today's quota is used up; sends resume after midnight China time."},
	"pause.daily_quota":                    {"在 minipush 中设置的每日额度已用完，北京时间零点后恢复发送。", "The daily quota set in minipush is used up; sends resume after midnight China time."},
	"pause.no_token":                       {"无法获取 access_token：请检查 AppID 和 AppSecret。", "No access token could be had: check the AppID and AppSecret."},
}
