package components

// securityCatalog holds the strings of sign-in and console hardening, the
// push modes and the account form (keys "sec.…"), and the words of the
// audit actions they write ("audit.action.<code>").
var securityCatalog = map[string][2]string{
	// A refused cross-site or expired form (CSRF).
	"sec.csrf.title": {"表单已过期", "Form expired"},
	"sec.csrf.hint":  {"表单已过期，或来自其他网站。请刷新页面后重试。", "The form expired or came from another site — reload and try again."},

	// Weak passwords (setup, staff create and reset, own password change).
	"sec.password.repeated":     {"密码太简单：不能由同一个字符重复组成。请换一个更难猜的密码，例如几个不相关的词。", "Password too simple: it repeats one character. Choose one that is harder to guess, e.g. a few unrelated words."},
	"sec.password.few_distinct": {"密码太简单：至少需要 %d 个不同的字符。", "Password too simple: use at least %d different characters."},
	"sec.password.sequence":     {"密码太简单：不能是连续的字母或数字（如 1234567890、abcdefghij）。", "Password too simple: it is a run of letters or digits (like 1234567890 or abcdefghij)."},
	"sec.password.identity":     {"密码不能包含邮箱地址或姓名。", "The password must not contain the email address or name."},
	"sec.password.common":       {"这是一个常见密码，很容易被猜到。请换一个。", "This is a common password that is easy to guess. Choose another."},

	// Push modes, account form and account page.
	"sec.mode.plain":          {"明文模式（较弱）", "Plaintext (weaker)"},
	"sec.mode.safe":           {"安全模式 / 兼容模式（推荐）", "Safe or compatible mode (recommended)"},
	"sec.mode.weaker":         {"较弱", "weaker"},
	"sec.mode.help":           {"与微信后台“消息推送”所选模式一致。微信选“安全模式”或“兼容模式”时，这里都选“安全模式 / 兼容模式”并填写 EncodingAESKey：minipush 只采用加密部分，并校验其签名。", "Match the mode chosen under Message push in WeChat. For WeChat's safe mode or compatible mode choose “Safe or compatible mode” and give the EncodingAESKey: minipush uses only the encrypted part and checks its signature."},
	"sec.mode.plain_warning":  {"明文模式较弱：微信的签名只覆盖时间戳和随机数，不覆盖消息内容。推送地址一旦泄露（例如出现在日志里），在 5 分钟的时间窗口内就可能被伪造事件。建议在微信后台改用安全模式或兼容模式。", "Plaintext mode is weaker: WeChat's signature covers only the timestamp and nonce, not the message. If a push URL leaks (in a log, say), events can be forged within the 5-minute window. Switch to safe or compatible mode in WeChat's console."},
	"sec.push.no_token":       {"注意：还没有填写推送 Token，微信的推送会被拒绝（没有 Token 就无法校验签名，明文模式下尤其不能不校验）。请编辑账号，填写与微信后台一致的 Token。", "Note: no push Token is set, so WeChat's pushes will be refused (without a Token no signature can be checked, and a plaintext push must never go unchecked). Edit the account and enter the Token set in WeChat's console."},
	"sec.mp_state.label":      {"点击消息打开的版本", "Version a tap opens"},
	"sec.appid.readonly_help": {"AppID 登记后不能修改。如需换 AppID，请新增一个账号。", "The AppID cannot change once registered. Add a new account for another AppID."},
	"sec.push_url.copy":       {"复制", "Copy"},
	"sec.push_url.copied":     {"已复制", "Copied"},
	"sec.push_url.host_hint":  {"这个地址取自本次请求的主机名，可能不是微信能访问到的地址。请用 --public-url 或 MINIPUSH_PUBLIC_URL 设置对外地址（例如 https://push.example.com）。", "This address comes from this request's host name and may not be the one WeChat can reach. Set the public address with --public-url or MINIPUSH_PUBLIC_URL (e.g. https://push.example.com)."},

	// Audit actions written by sign-in.
	"audit.action.auth.sign_in":        {"登录", "Signed in"},
	"audit.action.auth.sign_in_failed": {"登录失败", "Failed sign-in"},
	"audit.action.auth.lockout":        {"登录已锁定", "Sign-in locked"},
	"audit.action.auth.sign_out":       {"退出登录", "Signed out"},
}
