package components

import (
	"fmt"
	"strings"
)

// DefaultLang is the UI language when nothing else decides.
const DefaultLang = "zh"

// ValidLang tells whether lang is a UI language we have.
func ValidLang(lang string) bool { return lang == "zh" || lang == "en" }

// Translate looks key up in lang (falling back to Chinese, then to the key
// itself) and fills %-verbs from args.
func Translate(lang, key string, args ...any) string {
	pair, ok := catalog[key]
	if !ok {
		return key
	}
	s := pair[0]
	if lang == "en" && pair[1] != "" {
		s = pair[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// HasKey tells whether key is in the catalog (for tests).
func HasKey(key string) bool { _, ok := catalog[key]; return ok }

// Keys lists the catalog's keys with a given prefix (for tests).
func Keys(prefix string) []string {
	var out []string
	for k := range catalog {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// catalog holds every UI string: key → {Simplified Chinese, English}. Each
// area of the console keeps its strings in a file of its own (i18n_*.go);
// a key defined twice stops the program at start-up.
var catalog = mergeCatalogs(shellCatalog, usersCatalog, campaignsCatalog, engineCatalog, dashboardCatalog,
	uxCatalog, uxShellCatalog, uxSyncCatalog, uxAuditCatalog, uxMiscCatalog, uxJobsCatalog, uxTestSendCatalog, uxLibraryCatalog, opsCatalog,
	securityCatalog)

func mergeCatalogs(parts ...map[string][2]string) map[string][2]string {
	out := make(map[string][2]string)
	for _, part := range parts {
		for k, v := range part {
			if _, dup := out[k]; dup {
				panic("i18n: key defined twice: " + k)
			}
			out[k] = v
		}
	}
	return out
}

// shellCatalog: navigation, sign-in, staff, accounts, templates, jobs, audit.
var shellCatalog = map[string][2]string{
	// Navigation and shell
	"nav.dashboard":         {"概览", "Dashboard"},
	"nav.group.messaging":   {"消息", "Messaging"},
	"nav.group.people":      {"用户", "People"},
	"nav.group.settings":    {"设置", "Settings"},
	"nav.campaigns":         {"推送活动", "Campaigns"},
	"nav.templates":         {"消息模板", "Templates"},
	"nav.users":             {"用户查询", "Users"},
	"nav.deliveries":        {"发送记录", "Deliveries"},
	"nav.apps":              {"小程序账号", "Accounts"},
	"nav.staff":             {"成员", "Staff"},
	"nav.apikeys":           {"API 密钥", "API keys"},
	"nav.audit":             {"操作日志", "Audit log"},
	"nav.jobs":              {"定时任务", "Jobs"},
	"topbar.tagline":        {"小程序订阅消息推送控制台", "WeChat Mini Program subscription messages"},
	"role.admin":            {"管理员", "Admin"},
	"role.operator":         {"运营", "Operator"},
	"role.support":          {"客服", "Support"},
	"common.all":            {"全部", "All"},
	"common.cancel":         {"取消", "Cancel"},
	"common.edit":           {"编辑", "Edit"},
	"common.to_before_from": {"结束时间不晚于开始时间：请调换或修改，否则没有任何记录。", "The end is not after the start: swap or change them, or nothing can match."},
	"common.filter":         {"筛选", "Filter"},
	"common.next_page":      {"下一页", "Next page"},
	"common.save":           {"保存", "Save"},
	"common.status":         {"状态", "Status"},
	"common.time":           {"时间", "Time"},

	// Dashboard

	// Setup and sign-in
	"setup.title":          {"创建首个管理员", "Create the first admin"},
	"setup.intro":          {"minipush 还没有任何成员。请创建第一个管理员账号，之后可以在“设置 → 成员”中添加其他人。", "minipush has no staff yet. Create the first admin account; you can add others under Settings → Staff afterwards."},
	"setup.submit":         {"创建并登录", "Create and sign in"},
	"setup.done":           {"管理员账号已创建，欢迎使用 minipush。", "Your admin account is ready. Welcome to minipush."},
	"auth.login":           {"登录", "Sign in"},
	"auth.logout":          {"退出", "Sign out"},
	"auth.session_ended":   {"您的登录已结束：同一账号在其他地方登录、会话过期或被管理员结束。请重新登录。", "Your session has ended: this account signed in elsewhere, the session expired, or an admin ended it. Sign in again."},
	"auth.bad_credentials": {"邮箱或密码不正确，或账号已停用。", "Wrong email or password, or the account is disabled."},
	"auth.throttled":       {"登录失败次数过多，请在 %s 之后再试。", "Too many failed sign-ins. Try again after %s."},

	// Staff
	"staff.email":             {"邮箱", "Email"},
	"staff.name":              {"姓名", "Name"},
	"staff.role":              {"角色", "Role"},
	"staff.role_help":         {"管理员管理账号、模板、成员和 API 密钥；运营创建和管理推送活动；客服查询用户和发送记录。", "Admins manage accounts, templates, staff and API keys; operators run campaigns; support looks up users and deliveries."},
	"staff.role_invalid":      {"请选择管理员、运营或客服。", "Choose admin, operator or support."},
	"staff.password":          {"密码", "Password"},
	"staff.password_again":    {"再次输入密码", "Password again"},
	"staff.password_help":     {"至少 10 个字符。", "At least 10 characters."},
	"staff.password_short":    {"密码太短：至少需要 %d 个字符。", "Password too short: use at least %d characters."},
	"staff.password_long":     {"密码太长：最多 72 个字节。", "Password too long: at most 72 bytes."},
	"staff.password_mismatch": {"两次输入的密码不一致。", "The two passwords differ."},
	"staff.initial_password":  {"初始密码", "Initial password"},
	"staff.new_password":      {"新密码", "New password"},
	"staff.add":               {"添加成员", "Add staff"},
	"staff.created":           {"已添加成员 %s。", "Added %s."},
	"staff.updated":           {"已保存 %s。", "Saved %s."},
	"staff.email_taken":       {"该邮箱已有账号。", "An account with this email exists already."},
	"staff.active":            {"正常", "Active"},
	"staff.locked":            {"登录已锁定至 %s", "Sign-in locked until %s"},
	"staff.locked_hint":       {"登录失败次数过多。重设密码会解除锁定。", "Too many failed sign-ins. Resetting the password ends the lock."},
	"staff.disabled":          {"已停用", "Disabled"},
	"staff.last_login":        {"上次登录", "Last sign-in"},
	"staff.profile":           {"资料与角色", "Profile and role"},
	"staff.disable_label":     {"停用此账号", "Disable this account"},
	"staff.disable_help":      {"停用后立即退出登录且无法再登录；操作记录保留。", "A disabled account is signed out at once and cannot sign in; its history stays."},
	"staff.last_admin":        {"这是最后一个可用的管理员：请先让另一位成员成为管理员。", "This is the last active admin: make someone else an admin first."},
	"staff.reset_password":    {"重置密码", "Reset password"},
	"staff.reset_help":        {"重置后此成员在所有设备上退出登录，请把新密码安全地告诉对方。", "The person is signed out everywhere; give them the new password safely."},
	"staff.reset_confirm":     {"确定重置 %s 的密码吗？对方将在所有设备上退出登录。", "Reset the password of %s? They will be signed out everywhere."},
	"staff.password_reset":    {"已重置 %s 的密码。", "Password of %s reset."},

	// Own account
	"account.title":            {"我的账号", "My account"},
	"account.language":         {"界面语言", "Interface language"},
	"account.lang_invalid":     {"请选择简体中文或 English。", "Choose 简体中文 or English."},
	"account.lang_saved":       {"界面语言已保存。", "Language saved."},
	"account.change_password":  {"修改密码", "Change password"},
	"account.current_password": {"当前密码", "Current password"},
	"account.current_wrong":    {"当前密码不正确。", "The current password is wrong."},
	"account.password_changed": {"密码已修改，其他设备上的登录已退出。", "Password changed; your other sessions were signed out."},

	// Audit log
	"audit.who":         {"操作人", "Who"},
	"audit.action":      {"操作", "Action"},
	"audit.object_type": {"对象类型", "Object type"},
	"audit.object":      {"对象", "Object"},
	"audit.detail":      {"详情", "Detail"},
	"audit.ip":          {"来源 IP", "From"},
	"audit.empty":       {"没有符合条件的操作记录", "No matching audit entries"},
	"audit.empty_hint":  {"换个筛选条件试试。", "Try other filters."},

	// Forms
	"form.required":      {"必填。", "Required."},
	"form.too_long":      {"太长：最多 %d 个字符。", "Too long: at most %d characters."},
	"form.email_invalid": {"请输入有效的邮箱地址，例如 name@example.com。", "Enter a valid email address, e.g. name@example.com."},

	// Errors
	"error.400":       {"请求有误", "Bad request"},
	"error.400_lang":  {"只能选择中文（zh）或 English（en）。", "Choose zh (中文) or en (English)."},
	"error.400_form":  {"表单内容无法读取（某一项的格式不对）。请刷新页面，重新填写后再提交。", "The form could not be read (a value has the wrong form). Reload the page, fill it in again and submit."},
	"error.403":       {"没有权限", "Not allowed"},
	"error.403_hint":  {"你的角色不能访问此页面。如需访问，请联系管理员。", "Your role cannot open this page. Ask an admin if you need it."},
	"error.csrf_hint": {"表单已过期或来源不明。请刷新页面后重新提交。", "The form expired or came from elsewhere. Reload the page and submit again."},
	"error.404":       {"页面不存在", "Page not found"},
	"error.404_hint":  {"该页面或对象不存在，可能已被删除。", "This page or object does not exist; it may have been deleted."},
	"error.500":       {"服务器出错", "Server error"},
	"error.500_hint":  {"出了点问题，已记录在日志中（请求 ID：%s）。请稍后重试。", "Something went wrong and was logged (request id %s). Please try again."},
	"error.unseal":    {"无法解密已保存的密钥：MINIPUSH_SECRET_KEY 可能已更换。请恢复原来的密钥，或在账号设置中重新填写 AppSecret、Token 和 EncodingAESKey。", "A stored secret cannot be decrypted: MINIPUSH_SECRET_KEY may have changed. Restore the old key, or enter the AppSecret, Token and EncodingAESKey again in the account's settings."},
	"error.home":      {"返回首页", "Back to the dashboard"},

	// Accounts
	"apps.add":                   {"登记小程序", "Add account"},
	"apps.created":               {"已登记 %s。下一步：测试连接并同步模板。", "Added %s. Next: test the connection and sync its templates."},
	"apps.updated":               {"已保存 %s。", "Saved %s."},
	"apps.empty":                 {"还没有小程序账号", "No mini program accounts yet"},
	"apps.empty_hint":            {"点击“登记小程序”，填入 AppID 和 AppSecret。", "Click “Add account” and enter its AppID and AppSecret."},
	"apps.name":                  {"名称", "Name"},
	"apps.name_help":             {"在控制台中显示的名称，例如“商城小程序”。", "How the console names it, e.g. “Shop mini program”."},
	"apps.appid_help":            {"微信公众平台 → 开发 → 开发管理 → 开发设置中的 AppID，以 wx 开头。登记后不能修改。", "The AppID from WeChat's console (Development → Settings), starting with wx. It cannot change later."},
	"apps.appid_invalid":         {"AppID 应为 wx 加 16 位字母或数字，例如 wx0123456789abcdef。", "An AppID is wx followed by 16 letters or digits, e.g. wx0123456789abcdef."},
	"apps.appid_taken":           {"该 AppID 已经登记过了。", "This AppID is registered already."},
	"apps.secret_help":           {"AppSecret 加密保存，不会再显示。", "The AppSecret is stored encrypted and never shown again."},
	"apps.retype_secrets":        {"请修正标红的项。出于安全考虑，AppSecret、Token 和 EncodingAESKey 不会回填，请重新输入。", "Fix the fields in red. For safety the AppSecret, Token and EncodingAESKey are not filled back: type them again."},
	"apps.secret_set":            {"已设置；留空则保持不变。", "Set; leave blank to keep it."},
	"apps.secret_invalid":        {"AppSecret 应为 16–64 位字母或数字（通常 32 位），请从微信公众平台复制。", "An AppSecret is 16–64 letters or digits (usually 32): copy it from WeChat's console."},
	"apps.original_id":           {"原始 ID", "Original ID"},
	"apps.original_id_help":      {"gh_ 开头，消息推送的 ToUserName。可选。", "Starts with gh_; the ToUserName of pushes. Optional."},
	"apps.original_id_invalid":   {"原始 ID 应为 gh_ 加 12 位字母或数字。", "An original ID is gh_ followed by 12 letters or digits."},
	"apps.section_identity":      {"账号", "Account"},
	"apps.section_push":          {"消息推送", "Message push"},
	"apps.section_sending":       {"发送设置", "Sending"},
	"apps.push_token_help":       {"与微信后台“消息推送”配置的 Token 一致，3–32 位字母或数字。加密保存。", "The Token set under Message push in WeChat's console: 3–32 letters or digits. Stored encrypted."},
	"apps.push_token_invalid":    {"Token 应为 3–32 位字母或数字。", "The Token is 3–32 letters or digits."},
	"apps.aes_key_help":          {"安全模式下必填：43 位字母或数字。加密保存。", "Needed in safe mode: 43 letters or digits. Stored encrypted."},
	"apps.aes_key_invalid":       {"EncodingAESKey 必须正好 43 位字母或数字（现在是 %d 位）。", "The EncodingAESKey must be exactly 43 letters or digits (this one has %d)."},
	"apps.aes_key_needed":        {"安全模式需要 EncodingAESKey；或把推送模式改为明文。", "Safe mode needs the EncodingAESKey; or choose plaintext mode."},
	"apps.push_mode":             {"推送模式", "Push mode"},
	"apps.mode_plain":            {"明文模式", "Plaintext"},
	"apps.mode_safe":             {"安全模式（推荐）", "Safe mode (recommended)"},
	"apps.push_format":           {"数据格式", "Data format"},
	"apps.api_base_url":          {"API 地址", "API base URL"},
	"apps.api_base_url_help":     {"留空即微信官方接口；试用时可填 minipush sandbox 的地址，例如 http://127.0.0.1:9099。", "Blank means WeChat itself; for a trial use a minipush sandbox, e.g. http://127.0.0.1:9099."},
	"apps.url_invalid":           {"请输入以 http:// 或 https:// 开头、不带参数的地址。", "Enter an address starting with http:// or https://, without a query."},
	"apps.rate_limit":            {"发送速率", "Send rate"},
	"apps.rate_limit_help":       {"每秒最多发送的消息数，所有实例合计。", "Messages per second at most, across all instances together."},
	"apps.daily_quota":           {"每日配额", "Daily quota"},
	"apps.daily_quota_help":      {"每天最多发送的消息数；0 表示按微信的上限。", "Messages per day at most; 0 means WeChat's own cap."},
	"apps.quota_default":         {"微信默认上限", "WeChat's default cap"},
	"apps.timezone":              {"时区", "Time zone"},
	"apps.timezone_help":         {"IANA 时区名，例如 Asia/Shanghai；定时发送和免打扰时段按此时区计算。", "An IANA name such as Asia/Shanghai; schedules and quiet hours use it."},
	"apps.timezone_invalid":      {"未知的时区，请使用 IANA 名称，例如 Asia/Shanghai。", "Unknown time zone: use an IANA name such as Asia/Shanghai."},
	"apps.quiet_start":           {"免打扰开始", "Quiet hours start"},
	"apps.quiet_end":             {"免打扰结束", "Quiet hours end"},
	"apps.quiet_help":            {"24 小时制 HH:MM，可跨午夜（如 22:00 到 08:00）；两项都留空表示不设免打扰。", "24-hour HH:MM, may cross midnight (22:00 to 08:00); leave both blank for none."},
	"apps.quiet_both":            {"请同时填写开始和结束时间，或都留空。", "Fill in both start and end, or leave both blank."},
	"apps.quiet_same":            {"开始和结束不能相同。", "Start and end cannot be the same."},
	"apps.clock_invalid":         {"请用 24 小时制 HH:MM，例如 22:00。", "Use 24-hour HH:MM, e.g. 22:00."},
	"apps.quiet_policy":          {"免打扰时段内", "Inside quiet hours"},
	"apps.quiet_defer":           {"推迟到时段结束后发送", "Defer to the end of the quiet hours"},
	"apps.quiet_skip":            {"跳过不发", "Skip"},
	"apps.quiet_hours":           {"免打扰时段", "Quiet hours"},
	"apps.quiet_none":            {"无", "None"},
	"apps.mp_state_help":         {"用户点击消息后打开的小程序版本。", "Which version of the mini program a tap on the message opens."},
	"apps.state_formal":          {"正式版 (formal)", "Release (formal)"},
	"apps.state_trial":           {"体验版 (trial)", "Trial (trial)"},
	"apps.state_developer":       {"开发版 (developer)", "Developer (developer)"},
	"apps.lang":                  {"消息语言", "Message language"},
	"apps.sync_every":            {"模板同步间隔（小时）", "Template sync every (hours)"},
	"apps.sync_every_help":       {"定时从微信同步模板；0 表示只手动同步。", "Templates are re-synced from WeChat on this schedule; 0 means only by hand."},
	"apps.require_approval":      {"活动需审批", "Campaigns need approval"},
	"apps.require_approval_help": {"开启后，提交排期的每个活动（管理员提交的也一样）须由另一位管理员审批后才会排期（在活动列表的“待审批”中处理）。", "When on, every campaign submitted for scheduling (an admin's too) is scheduled only once another admin approves it (Campaigns → Awaiting approval)."},
	"apps.disable_label":         {"停用此账号", "Disable this account"},
	"apps.disable_help":          {"停用后不再发送消息，也不再定时同步模板。", "A disabled account sends nothing and its templates are not synced."},
	"apps.disabled":              {"已停用", "Disabled"},
	"apps.enabled":               {"启用", "Enabled"},
	"apps.set":                   {"已设置", "Set"},
	"apps.not_set":               {"未设置", "Not set"},
	"apps.test_connection":       {"测试连接", "Test connection"},
	"apps.test_connection_help":  {"用 AppID 和 AppSecret 获取一次 access_token，检查账号配置和服务器 IP 白名单。", "Fetches an access token with the AppID and AppSecret: checks the credentials and the server IP whitelist."},
	"apps.test_ok":               {"连接成功：已获取 access_token。", "Connected: an access token was issued."},
	"apps.push_setup":            {"在微信后台配置消息推送", "Configure message push in WeChat"},
	"apps.push_setup_help":       {"在微信公众平台 → 开发 → 开发管理 → 消息推送中填入以下地址，Token 和 EncodingAESKey 与此处一致，并选择相同的模式和格式。", "In WeChat's console (Development → Message push) enter this URL, the same Token and EncodingAESKey, and the same mode and format."},
	"apps.push_url":              {"URL（服务器地址）", "URL (server address)"},

	// WeChat answers
	"wechat.error":       {"微信返回 %s", "WeChat %s"}, // wechat.Explain: "43101：…" / "43101: …"
	"wechat.unreachable": {"无法连接微信接口：%s。请检查 API 地址和网络。", "Could not reach the WeChat API: %s. Check the API base URL and the network."},
	"wechat.net.http":    {"对方返回了 HTTP 错误", "the server answered with an HTTP error"},
	"wechat.net.dns":     {"域名无法解析", "its host name could not be resolved"},
	"wechat.net.refused": {"连接被拒绝", "the connection was refused"},
	"wechat.net.tls":     {"TLS 证书校验失败", "its TLS certificate could not be verified"},
	"wechat.net.timeout": {"在时限内没有应答", "no answer within the time limit"},
	"wechat.net.other":   {"连接失败", "the connection failed"},

	// Templates
	"tpl.account":               {"小程序", "Account"},
	"tpl.pick_account":          {"请选择一个小程序账号。", "Choose a mini program account."},
	"tpl.title":                 {"标题", "Title"},
	"tpl.template_id":           {"模板 ID", "Template ID"},
	"tpl.template_id_invalid":   {"模板 ID 不能包含空格，最多 128 个字符。", "A template ID has no spaces and at most 128 characters."},
	"tpl.template_id_taken":     {"此小程序已有该模板 ID。", "This account has this template ID already."},
	"tpl.kind":                  {"类型", "Type"},
	"tpl.kind.one_time":         {"一次性订阅", "One-time"},
	"tpl.kind.long_term":        {"长期订阅", "Long-term"},
	"tpl.keywords":              {"关键词", "Keywords"},
	"tpl.status.active":         {"可用", "Active"},
	"tpl.status.deleted":        {"已删除", "Deleted"},
	"tpl.status.manual":         {"手动录入", "Manual"},
	"tpl.synced_at":             {"同步时间", "Synced"},
	"tpl.sync":                  {"从微信同步", "Sync from WeChat"},
	"tpl.synced":                {"%s 同步完成：新增 %d，更新 %d，删除 %d，未变 %d。", "%s synced: %d new, %d updated, %d deleted, %d unchanged."},
	"tpl.sync_failed":           {"%s 同步失败：%s", "Sync of %s failed: %s"},
	"tpl.sync_history":          {"同步记录", "Sync history"},
	"tpl.sync_trigger":          {"触发方式", "Trigger"},
	"tpl.trigger.manual":        {"手动", "By hand"},
	"tpl.trigger.schedule":      {"定时", "Scheduled"},
	"tpl.sync_inserted":         {"新增", "New"},
	"tpl.sync_updated":          {"更新", "Updated"},
	"tpl.sync_deleted":          {"删除", "Deleted"},
	"tpl.sync_flagged":          {"标记的活动", "Campaigns flagged"},
	"tpl.sync_error":            {"错误", "Error"},
	"tpl.empty":                 {"没有符合条件的模板", "No matching templates"},
	"tpl.empty_hint":            {"从微信同步、从公共模板库添加，或手动录入模板。", "Sync from WeChat, add one from the public library, or enter one by hand."},
	"tpl.no_apps":               {"还没有小程序账号", "No mini program accounts yet"},
	"tpl.no_apps_hint":          {"请管理员先在“设置 → 小程序账号”中登记小程序。", "An admin must first add an account under Settings → Accounts."},
	"tpl.library":               {"从模板库添加", "Add from library"},
	"tpl.lib_categories":        {"类目", "Categories"},
	"tpl.lib_pick_category":     {"从左侧选择一个类目，查看其公共模板。", "Pick a category on the left to see its public templates."},
	"tpl.lib_choose":            {"选择关键词", "Pick keywords"},
	"tpl.lib_pick_help":         {"选择 2–5 个关键词，顺序即消息中的顺序，并填写使用场景。", "Pick 2 to 5 keywords (their order is the message's) and describe the scene."},
	"tpl.lib_kids":              {"请选择 2–5 个关键词（现在选了 %d 个）。", "Pick 2 to 5 keywords (you picked %d)."},
	"tpl.lib_add":               {"添加到我的模板", "Add to my templates"},
	"tpl.scene_desc":            {"使用场景", "Scene description"},
	"tpl.scene_desc_help":       {"最多 15 个字，例如“订单发货通知”。", "At most 15 characters, e.g. “order shipped”."},
	"tpl.added":                 {"已添加模板“%s”。", "Template “%s” added."},
	"tpl.manual":                {"手动录入", "Enter by hand"},
	"tpl.manual_help":           {"服务器无法访问微信接口时，可从微信后台复制模板 ID、标题和详细内容，在此录入。同步不会删除手动录入的模板。", "When this server cannot reach WeChat's API, copy the template ID, title and content from WeChat's console. Sync never removes templates entered by hand."},
	"tpl.content":               {"详细内容", "Content"},
	"tpl.content_help":          {"每行一个关键词，如 订单号:{{character_string1.DATA}}。", "One keyword a line, like 订单号:{{character_string1.DATA}}."},
	"tpl.content_invalid":       {"无法解析：%s", "Cannot parse it: %s"},
	"tpl.content_no_keywords":   {"内容里没有 {{类型编号.DATA}} 形式的关键词，请从微信后台完整复制。", "The content has no {{type1.DATA}} keywords: copy it whole from WeChat's console."},
	"tpl.kw_label":              {"关键词", "Keyword"},
	"tpl.kw_key":                {"参数名", "Key"},
	"tpl.kw_type":               {"类型", "Type"},
	"tpl.kw_rule":               {"取值规则", "Rule"},
	"tpl.example":               {"示例", "Example"},
	"tpl.try_title":             {"填写并预览", "Fill in and preview"},
	"tpl.try_help":              {"输入时按微信的取值规则即时检查每个关键词。", "Each keyword is checked against WeChat's value rules as you type."},
	"tpl.page":                  {"跳转页面", "Page"},
	"tpl.page_help":             {"点击消息打开的小程序页面，可带参数；留空则不跳转。", "The mini program page a tap opens, query allowed; blank opens nothing."},
	"tpl.test_openid":           {"测试接收人 openid", "Test recipient openid"},
	"tpl.test_openid_help":      {"该用户需已授权订阅此模板（一次性模板每次授权可发一条）。", "The user must have allowed this template (one message per allow for one-time templates)."},
	"tpl.check":                 {"检查", "Check"},
	"tpl.test_send":             {"测试发送", "Test send"},
	"tpl.test_send_invalid":     {"有关键词不符合取值规则，请先修正标红的项。", "Some keywords break their rule: fix the ones in red first."},
	"tpl.test_send_no_user":     {"没有 openid 为“%s”的用户：用户须先打开小程序并允许此模板，才会有发送次数。请检查 openid。", "No user has the openid “%s”: a user holds credits only after opening the mini program and allowing the template. Check the openid."},
	"tpl.test_send_openid":      {"请填写测试接收人的 openid。", "Enter the test recipient's openid."},
	"tpl.test_send_too_long":    {"跳转页面最多 %d 个字符。", "The page takes at most %d characters."},
	"tpl.test_send_deleted":     {"模板已删除，不能发送。", "The template is deleted: it cannot be sent."},
	"tpl.test_send_unavailable": {"发送引擎未运行，无法测试发送。", "The delivery engine is not running: test sends are unavailable."},
	"tpl.test_send_waiting":     {"已排队，正在等待微信的答复……", "Queued; waiting for WeChat's answer…"},
	"tpl.preview_from":          {"服务通知", "Service notifications"},
	"tpl.preview_open":          {"进入小程序查看", "Open the mini program"},
	"tpl.delete":                {"删除模板", "Delete template"},
	"tpl.delete_help":           {"将在微信删除此模板；已发出的消息不受影响。", "Deletes the template at WeChat; messages already sent are not affected."},
	"tpl.delete_used_by":        {"以下活动正在使用此模板，删除后它们将被标记并暂停：", "These campaigns use it and will be flagged and held:"},
	"tpl.delete_confirm":        {"确定删除模板“%s”吗？微信端也会删除，无法恢复。", "Delete the template “%s”? It is deleted at WeChat too and cannot be restored."},
	"tpl.delete_confirm_used":   {"确定删除模板“%s”吗？微信端也会删除，无法恢复；使用它的活动将暂停：%s", "Delete the template “%s”? It is deleted at WeChat too and cannot be restored; these campaigns will be held: %s"},
	"tpl.delete_failed":         {"删除失败：%s", "Delete failed: %s"},
	"tpl.deleted":               {"已删除模板“%s”。", "Template “%s” deleted."},

	"common.prev_page": {"上一页", "Previous page"},
	"form.choose":      {"请从列表中选择一项。", "Choose one of the options."},
	"form.int_range":   {"请输入 %d 到 %d 之间的整数。", "Enter a whole number from %d to %d."},

	// Jobs
	"jobs.name":                {"任务", "Job"},
	"jobs.schedule":            {"计划", "Schedule"},
	"jobs.last_run":            {"上次运行", "Last run"},
	"jobs.duration":            {"耗时", "Duration"},
	"jobs.runs":                {"运行 / 失败", "Runs / failures"},
	"jobs.next_run":            {"下次运行", "Next run"},
	"jobs.running":             {"运行中", "Running"},
	"jobs.never":               {"尚未运行", "Never run"},
	"jobs.ok":                  {"成功", "OK"},
	"jobs.failed":              {"失败", "Failed"},
	"jobs.run_now":             {"立即运行", "Run now"},
	"jobs.already_running":     {"任务 %s 正在运行，本次未重复启动。", "Job %s is running: it was not started again."},
	"jobs.started":             {"任务 %s 已开始运行。", "Job %s started."},
	"jobs.empty":               {"还没有定时任务记录", "No scheduled jobs yet"},
	"jobs.empty_hint":          {"minipush serve 启动后会登记它的定时任务。", "minipush serve registers its jobs when it starts."},
	"jobs.desc.template-sync":  {"按各小程序设定的间隔从微信同步模板", "Re-syncs each account's templates from WeChat on its interval"},
	"jobs.desc.sessions-prune": {"清理过期的登录会话", "Deletes expired sign-in sessions"},

	// Deliveries explained
	"delivery.waiting":                  {"排队中，等待发送……", "Queued, waiting to be sent…"},
	"delivery.sent":                     {"微信已接收这条消息（msgid %s），正在等待送达结果。", "WeChat accepted the message (msgid %s); waiting for its delivery report."},
	"delivery.delivered":                {"已送达（msgid %s）。", "Delivered (msgid %s)."},
	"delivery.unknown":                  {"请求已发出但没有收到微信的答复，结果未知；不会自动重发，等待微信的发送结果事件或人工确认。", "The request left but WeChat's answer never came: the outcome is unknown. It is not resent automatically; WeChat's sent event or staff will settle it."},
	"delivery.skipped.no_subscription":  {"未发送：该用户没有此模板的订阅次数。用户需要在小程序中再次点击“允许”（且 minipush 需收到该事件）。", "Not sent: the user has no subscription left for this template. They must tap allow again (and minipush must receive that event)."},
	"delivery.skipped.invalid_value":    {"未发送：关键词 %s 的值不符合取值规则，请修改后重发。", "Not sent: the value of %s breaks its rule; correct it and send again."},
	"delivery.skipped.template_deleted": {"未发送：模板已删除或未知，请先同步模板。", "Not sent: the template is deleted or unknown; sync the templates first."},
	"delivery.skipped.app_disabled":     {"未发送：该小程序账号已停用。", "Not sent: the account is disabled."},
	"delivery.failed.max_attempts":      {"发送失败：多次重试后微信仍繁忙或无法连接。", "Failed: WeChat stayed busy or unreachable through every retry."},
	"delivery.failed.wechat":            {"发送失败：微信拒绝了这条消息。", "Failed: WeChat refused the message."},
	"delivery.failed.sent_event":        {"发送失败：微信的发送结果事件报告未送达。", "Failed: WeChat's sent event reports it was not delivered."},
}
