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

// catalog holds every UI string: key → {Simplified Chinese, English}.
var catalog = map[string][2]string{
	// Navigation and shell
	"nav.dashboard":       {"概览", "Dashboard"},
	"nav.group.messaging": {"消息", "Messaging"},
	"nav.group.people":    {"用户", "People"},
	"nav.group.settings":  {"设置", "Settings"},
	"nav.campaigns":       {"推送活动", "Campaigns"},
	"nav.templates":       {"消息模板", "Templates"},
	"nav.users":           {"用户查询", "Users"},
	"nav.deliveries":      {"发送记录", "Deliveries"},
	"nav.apps":            {"小程序账号", "Accounts"},
	"nav.staff":           {"成员", "Staff"},
	"nav.apikeys":         {"API 密钥", "API keys"},
	"nav.audit":           {"操作日志", "Audit log"},
	"nav.jobs":            {"定时任务", "Jobs"},
	"topbar.tagline":      {"小程序订阅消息推送控制台", "WeChat Mini Program subscription messages"},
	"role.admin":          {"管理员", "Admin"},
	"role.operator":       {"运营", "Operator"},
	"role.support":        {"客服", "Support"},
	"common.all":          {"全部", "All"},
	"common.cancel":       {"取消", "Cancel"},
	"common.edit":         {"编辑", "Edit"},
	"common.filter":       {"筛选", "Filter"},
	"common.next_page":    {"下一页", "Next page"},
	"common.save":         {"保存", "Save"},
	"common.status":       {"状态", "Status"},
	"common.time":         {"时间", "Time"},
	"coming.title":        {"即将推出", "Coming soon"},
	"coming.campaigns":    {"在这里用模板创建推送活动，选择受众，立即、定时或按 cron 周期发送，并实时查看进度。", "Compose campaigns from a template, pick the audience, send now, at a time or on a cron schedule, and watch them run live."},
	"coming.templates":    {"在这里从微信同步模板、从公共模板库添加模板，并测试发送。", "Sync templates from WeChat, add them from the public library and test-send them here."},
	"coming.users":        {"在这里按 openid、unionid 或业务 ID 查找用户，查看其各模板的订阅次数和收到的每条消息。", "Find a user by openid, unionid or business id and see their credits per template and every message sent to them."},
	"coming.deliveries":   {"在这里查看每一条消息的发送结果及微信返回码的解释。", "See every message sent, with WeChat's answer explained."},
	"coming.apps":         {"在这里登记小程序账号（AppID、AppSecret、消息推送 Token、EncodingAESKey）。", "Register mini program accounts (AppID, secret, push token, EncodingAESKey) here."},
	"coming.apikeys":      {"在这里为业务后台创建 API 密钥。", "Create API keys for the business backend here."},
	"coming.jobs":         {"在这里查看定时任务的上次运行时间、耗时和错误，并可立即运行。", "See each scheduled job's last run, duration and error, and run it now."},

	// Dashboard
	"dash.apps":           {"小程序账号", "Accounts"},
	"dash.templates":      {"消息模板", "Templates"},
	"dash.campaigns":      {"推送活动", "Campaigns"},
	"dash.staff":          {"成员", "Staff"},
	"dash.next_title":     {"开始使用", "Getting started"},
	"dash.step_app":       {"在“设置 → 小程序账号”中登记小程序，并把消息推送地址填入微信后台。", "Register your mini program under Settings → Accounts and paste the push URL into WeChat's console."},
	"dash.step_templates": {"同步或添加订阅消息模板。", "Sync or add subscription message templates."},
	"dash.step_staff":     {"在“设置 → 成员”中邀请运营和客服同事。", "Invite operators and support staff under Settings → Staff."},
	"dash.step_campaign":  {"创建第一个推送活动。", "Create your first campaign."},

	// Setup and sign-in
	"setup.title":          {"创建首个管理员", "Create the first admin"},
	"setup.intro":          {"minipush 还没有任何成员。请创建第一个管理员账号，之后可以在“设置 → 成员”中添加其他人。", "minipush has no staff yet. Create the first admin account; you can add others under Settings → Staff afterwards."},
	"setup.submit":         {"创建并登录", "Create and sign in"},
	"setup.done":           {"管理员账号已创建，欢迎使用 minipush。", "Your admin account is ready. Welcome to minipush."},
	"auth.login":           {"登录", "Sign in"},
	"auth.logout":          {"退出", "Sign out"},
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
	"error.403":       {"没有权限", "Not allowed"},
	"error.403_hint":  {"你的角色不能访问此页面。如需访问，请联系管理员。", "Your role cannot open this page. Ask an admin if you need it."},
	"error.csrf_hint": {"表单已过期或来源不明。请刷新页面后重新提交。", "The form expired or came from elsewhere. Reload the page and submit again."},
	"error.404":       {"页面不存在", "Page not found"},
	"error.404_hint":  {"该页面或对象不存在，可能已被删除。", "This page or object does not exist; it may have been deleted."},
	"error.500":       {"服务器出错", "Server error"},
	"error.500_hint":  {"出了点问题，已记录在日志中（请求 ID：%s）。请稍后重试。", "Something went wrong and was logged (request id %s). Please try again."},
	"error.home":      {"返回首页", "Back to the dashboard"},
}
