package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minipush/minipush/wechat"
)

// LibraryKeyword is a keyword of a public template title.
type LibraryKeyword struct {
	KID     int64
	Name    string
	Rule    string   // keyword type
	Example string   // a valid value
	Enum    []string // enum_string values
}

// LibraryTitle is a public template title.
type LibraryTitle struct {
	TID        int64
	Title      string
	Type       int // wechat.TemplateOneTime or TemplateLongTerm
	CategoryID int64
	Keywords   []LibraryKeyword
}

// LibraryCategory is a category of the public library.
type LibraryCategory struct {
	ID   int64
	Name string
}

// Categories of the built-in public library.
var Categories = []LibraryCategory{
	{100, "电商平台"},
	{200, "交通-停车"},
	{300, "生活服务-智能家居"},
	{400, "教育-在线教育"},
	{500, "社交-即时通信"},
	{600, "文娱-活动"},
	{700, "工具-系统服务"},
}

// Library is the built-in public template library. Together its keywords
// cover every value type, enum_string and short_thing included; every
// Example is a valid value of its type.
var Library = []LibraryTitle{
	{TID: 1001, Title: "订单发货通知", Type: wechat.TemplateOneTime, CategoryID: 100, Keywords: []LibraryKeyword{
		{1, "商品名称", "thing", "iPhone 15 Pro 256G", nil},
		{2, "订单号", "character_string", "2024052011230001", nil},
		{3, "发货时间", "time", "2024-05-20 15:01", nil},
		{4, "快递公司", "thing", "顺丰速运", nil},
		{5, "快递单号", "character_string", "SF1234567890123", nil},
		{6, "订单金额", "amount", "¥100.50", nil},
		{7, "收货人", "name", "张三", nil},
		{8, "联系电话", "phone_number", "+86-0766-66888866", nil},
		{9, "订单状态", "phrase", "配送中", nil},
		{10, "商品数量", "number", "2", nil},
	}},
	{TID: 1002, Title: "支付成功通知", Type: wechat.TemplateOneTime, CategoryID: 100, Keywords: []LibraryKeyword{
		{1, "支付金额", "amount", "100元", nil},
		{2, "支付时间", "time", "2019年10月1日 15:01", nil},
		{3, "订单号", "character_string", "PAY-20191001-0001", nil},
		{4, "商品名称", "thing", "月卡会员", nil},
		{5, "支付方式", "short_thing", "微信支付", nil},
		{6, "会员等级", "letter", "VIP", nil},
	}},
	{TID: 2001, Title: "停车缴费提醒", Type: wechat.TemplateOneTime, CategoryID: 200, Keywords: []LibraryKeyword{
		{1, "车牌号", "car_number", "粤A8Z888挂", nil},
		{2, "入场时间", "time", "08:30", nil},
		{3, "停车时长", "number", "2.5", nil},
		{4, "应付金额", "amount", "¥15", nil},
		{5, "停车场", "thing", "万象城 B2 停车场", nil},
		{6, "缴费日期", "date", "2019-10-01", nil},
	}},
	{TID: 3001, Title: "设备状态提醒", Type: wechat.TemplateOneTime, CategoryID: 300, Keywords: []LibraryKeyword{
		{1, "房间", "enum_string", "客厅", []string{"客厅", "卧室", "厨房", "书房"}},
		{2, "设备名称", "thing", "空气净化器", nil},
		{3, "设备状态", "phrase", "已离线", nil},
		{4, "提醒时间", "time", "15:01:09", nil},
		{5, "告警标记", "symbol", "!!", nil},
	}},
	{TID: 4001, Title: "课程开课提醒", Type: wechat.TemplateLongTerm, CategoryID: 400, Keywords: []LibraryKeyword{
		{1, "课程名称", "thing", "高等数学（上）", nil},
		{2, "上课日期", "date", "10月1日", nil},
		{3, "上课时间", "time", "19:00~20:30", nil},
		{4, "授课老师", "name", "Alice Wang", nil},
		{5, "课程等级", "letter", "A", nil},
		{6, "备注", "short_thing", "带课本", nil},
		{7, "课程编号", "character_string", "MATH-101", nil},
	}},
	// The demo's scenarios (minipush demo): a new message, an activity
	// starting and a long-term system notice.
	{TID: 5001, Title: "新消息提醒", Type: wechat.TemplateOneTime, CategoryID: 500, Keywords: []LibraryKeyword{
		{1, "发送人", "name", "李雷", nil},
		{2, "消息内容", "thing", "周末一起去爬山吗？", nil},
		{3, "发送时间", "time", "2024-05-20 15:01", nil},
		{4, "消息类型", "phrase", "私信", nil},
	}},
	{TID: 6001, Title: "活动开始提醒", Type: wechat.TemplateOneTime, CategoryID: 600, Keywords: []LibraryKeyword{
		{1, "活动名称", "thing", "双十一狂欢夜", nil},
		{2, "开始时间", "time", "2024-11-11 20:00", nil},
		{3, "活动地点", "thing", "线上直播间", nil},
		{4, "温馨提示", "thing", "提前领取优惠券更划算", nil},
	}},
	{TID: 7001, Title: "系统通知", Type: wechat.TemplateLongTerm, CategoryID: 700, Keywords: []LibraryKeyword{
		{1, "通知内容", "thing", "系统将于今晚 23:00 升级维护", nil},
		{2, "通知时间", "time", "2024-05-20 23:00", nil},
		{3, "通知类型", "phrase", "维护", nil},
		{4, "备注", "thing", "维护期间暂停下单", nil},
	}},
}

func libraryTitle(tid int64) *LibraryTitle {
	for i := range Library {
		if Library[i].TID == tid {
			return &Library[i]
		}
	}
	return nil
}

// handleNewTmpl serves the /wxaapi/newtmpl/ APIs. A wrong method answers
// errcode 404, as WeChat does.
func (s *Server) handleNewTmpl(w http.ResponseWriter, r *http.Request) {
	a, code, msg := s.checkToken(queryValue(r.URL.RawQuery, "access_token"), s.now().UnixNano())
	if code != 0 {
		s.writeErr(w, code, msg)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/wxaapi/newtmpl/")
	want := http.MethodGet
	if name == "addtemplate" || name == "deltemplate" {
		want = http.MethodPost
	}
	if r.Method != want {
		s.writeErr(w, wechat.CodeWrongMethod, "Not Found")
		return
	}
	q := r.URL.Query()
	switch name {
	case "getcategory":
		data := make([]map[string]any, 0, len(Categories))
		for _, c := range Categories {
			data = append(data, map[string]any{"id": c.ID, "name": c.Name})
		}
		s.writeOK(w, map[string]any{"data": data})
	case "getpubtemplatetitles":
		s.getPubTitles(w, q.Get("ids"), q.Get("start"), q.Get("limit"))
	case "getpubtemplatekeywords":
		tid, err := strconv.ParseInt(q.Get("tid"), 10, 64)
		lt := libraryTitle(tid)
		if err != nil || lt == nil {
			s.writeErr(w, wechat.CodeBadTID, "invalid tid")
			return
		}
		data := make([]map[string]any, 0, len(lt.Keywords))
		for _, k := range lt.Keywords {
			data = append(data, map[string]any{"kid": k.KID, "name": k.Name, "example": k.Example, "rule": k.Rule})
		}
		s.writeOK(w, map[string]any{"count": len(data), "data": data})
	case "addtemplate":
		s.addTemplate(w, r, a)
	case "deltemplate":
		body, _ := readBody(r, 1<<16)
		var req struct {
			PriTmplID string `json:"priTmplId"`
		}
		if len(body) == 0 {
			s.writeErr(w, wechat.CodeEmptyBody, "empty post data")
			return
		}
		if err := json.Unmarshal(body, &req); err != nil {
			s.writeErr(w, wechat.CodeBadJSON, "data format error")
			return
		}
		if !a.delTemplate(req.PriTmplID) {
			s.writeErr(w, wechat.CodeParamError, "param error: priTmplId not found")
			return
		}
		s.writeOK(w, nil)
	case "gettemplate":
		ts := a.sortedTemplates()
		data := make([]map[string]any, 0, len(ts))
		for _, t := range ts {
			d := map[string]any{"priTmplId": t.PriTmplID, "title": t.Title, "content": t.Content, "example": t.Example, "type": t.Type}
			if len(t.Enums) > 0 {
				var list []map[string]any
				for _, kw := range t.kws {
					if vals, ok := t.Enums[kw.Key]; ok {
						list = append(list, map[string]any{"keywordCode": kw.Key + ".DATA", "enumValueList": vals})
					}
				}
				d["keywordEnumValueList"] = list
			}
			data = append(data, d)
		}
		s.writeOK(w, map[string]any{"data": data})
	}
}

func (s *Server) writeOK(w http.ResponseWriter, fields map[string]any) {
	out := map[string]any{"errcode": 0, "errmsg": "ok"}
	for k, v := range fields {
		out[k] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeErr(w, wechat.CodeSystemError, "system error")
		return
	}
	writeJSON(w, b)
}

func (s *Server) getPubTitles(w http.ResponseWriter, ids, startStr, limitStr string) {
	if strings.TrimSpace(ids) == "" {
		s.writeErr(w, wechat.CodeIDsMissing, "ids is empty")
		return
	}
	var cats []int64
	for _, p := range strings.Split(ids, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		known := slices.ContainsFunc(Categories, func(c LibraryCategory) bool { return c.ID == id })
		if err != nil || !known {
			s.writeErr(w, wechat.CodeIDsInvalid, "ids invalid")
			return
		}
		cats = append(cats, id)
	}
	start, err := strconv.Atoi(startStr)
	if err != nil || start < 0 {
		s.writeErr(w, wechat.CodeBadStart, "start invalid")
		return
	}
	limit, err := strconv.Atoi(limitStr)
	if err != nil || limit < 1 || limit > 30 {
		s.writeErr(w, wechat.CodeBadLimit, "limit invalid")
		return
	}
	var all []map[string]any
	for _, t := range Library {
		if slices.Contains(cats, t.CategoryID) {
			// categoryId arrives as a string although documented as a number.
			all = append(all, map[string]any{"tid": t.TID, "title": t.Title, "type": t.Type, "categoryId": strconv.FormatInt(t.CategoryID, 10)})
		}
	}
	page := []map[string]any{}
	if start < len(all) {
		page = all[start:min(start+limit, len(all))]
	}
	s.writeOK(w, map[string]any{"count": len(all), "data": page})
}

type addTemplateReq struct {
	TID       wechat.FlexString `json:"tid"`
	KidList   []int64           `json:"kidList"`
	SceneDesc string            `json:"sceneDesc"`
}

func (s *Server) addTemplate(w http.ResponseWriter, r *http.Request, a *app) {
	body, _ := readBody(r, 1<<16)
	if len(body) == 0 {
		s.writeErr(w, wechat.CodeEmptyBody, "empty post data")
		return
	}
	var req addTemplateReq
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeErr(w, wechat.CodeBadJSON, "data format error")
		return
	}
	tid, err := strconv.ParseInt(string(req.TID), 10, 64)
	lt := libraryTitle(tid)
	if err != nil || lt == nil {
		s.writeErr(w, wechat.CodeBadTID, "invalid tid")
		return
	}
	if len(req.KidList) < 2 || len(req.KidList) > 5 {
		s.writeErr(w, wechat.CodeBadKidList, "kidList invalid")
		return
	}
	var kws []LibraryKeyword
	for i, kid := range req.KidList {
		if slices.Contains(req.KidList[:i], kid) {
			s.writeErr(w, wechat.CodeBadKidList, "kidList invalid")
			return
		}
		j := slices.IndexFunc(lt.Keywords, func(k LibraryKeyword) bool { return k.KID == kid })
		if j < 0 {
			s.writeErr(w, wechat.CodeBadKidList, "kidList invalid")
			return
		}
		kws = append(kws, lt.Keywords[j])
	}
	if utf8.RuneCountInString(req.SceneDesc) > 15 {
		s.writeErr(w, wechat.CodeBadSceneDesc, "sceneDesc invalid")
		return
	}
	a.tmplMu.Lock()
	defer a.tmplMu.Unlock()
	if m := a.templates.Load(); m != nil {
		for _, t := range *m {
			if t.tid == tid && slices.Equal(t.kids, req.KidList) {
				s.writeErr(w, wechat.CodeTemplateExists, "template with the same title and keywords already exists")
				return
			}
		}
	}
	if a.templateCount() >= s.opts.TemplateCap {
		s.writeErr(w, wechat.CodeTemplateCapReached, "template count reach limit")
		return
	}
	t := templateFromLibrary(lt, kws)
	t.kids = slices.Clone(req.KidList)
	a.putTemplateLocked(t)
	s.writeOK(w, map[string]any{"priTmplId": t.PriTmplID})
}

// templateFromLibrary builds a private template: key = rule + kid, so
// indexes follow the keyword ids and need not be sequential.
func templateFromLibrary(lt *LibraryTitle, kws []LibraryKeyword) *tmpl {
	var content, example strings.Builder
	t := &tmpl{tid: lt.TID}
	t.PriTmplID = randomString(43)
	t.Title = lt.Title
	t.Type = lt.Type
	for _, k := range kws {
		key := k.Rule + strconv.FormatInt(k.KID, 10)
		content.WriteString(k.Name + ":{{" + key + ".DATA}}\n")
		example.WriteString(k.Name + "：" + k.Example + "\n")
		kw := wechat.Keyword{Label: k.Name, Key: key, Type: k.Rule}
		if len(k.Enum) > 0 {
			if t.Enums == nil {
				t.Enums = make(map[string][]string)
			}
			t.Enums[key] = slices.Clone(k.Enum)
			kw.Enum = t.Enums[key]
		}
		t.kws = append(t.kws, kw)
	}
	t.Content = content.String()
	t.Example = example.String()
	return t
}
