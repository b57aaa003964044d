package wechat

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseContent(t *testing.T) {
	content := "订单号:{{character_string1.DATA}}\n商品名称：{{thing3.DATA}}\r\n 金额: {{amount12.DATA}} 时间{{time2.DATA}}\n房间:{{enum_string5.DATA}}\n"
	got, err := ParseContent(content)
	if err != nil {
		t.Fatal(err)
	}
	want := []Keyword{
		{Label: "订单号", Key: "character_string1", Type: "character_string"},
		{Label: "商品名称", Key: "thing3", Type: "thing"},
		{Label: "金额", Key: "amount12", Type: "amount"},
		{Label: "时间", Key: "time2", Type: "time"},
		{Label: "房间", Key: "enum_string5", Type: "enum_string"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	for _, bad := range []string{
		"", "no placeholders", "x:{{thing1}}", "x:{{.DATA}}", "x:{{thing.DATA}}", "x:{{1.DATA}}",
		"x:{{Thing1.DATA}}", "x:{{thing1.DATA}}\ny:{{thing1.DATA}}", "x:{{thing1.DATA", "x:thing1.DATA}}",
		"x:{{_thing1.DATA}}", "x:{{thing-1.DATA}}",
	} {
		if kws, err := ParseContent(bad); err == nil {
			t.Errorf("ParseContent(%q) = %+v, want error", bad, kws)
		}
	}
}

func TestTemplateKeywordsEnums(t *testing.T) {
	tp := Template{Content: "房间:{{enum_string2.DATA}}\n设备:{{thing1.DATA}}", Enums: map[string][]string{"enum_string2": {"客厅", "卧室"}}}
	kws, err := tp.Keywords()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kws[0].Enum, []string{"客厅", "卧室"}) || kws[1].Enum != nil {
		t.Fatalf("enums not attached: %+v", kws)
	}
	if err := CheckValue(kws[0], "卧室"); err != nil {
		t.Errorf("enum value refused: %v", err)
	}
	var ve *ValueError
	if err := CheckValue(kws[0], "厨房"); !errors.As(err, &ve) || ve.Rule != RuleEnum {
		t.Errorf("value outside the enum: %v", err)
	}
}

type valueCase struct {
	value string
	rule  Rule // "" means valid
}

// Valid and invalid examples for every type of §3.
var valueCases = map[string][]valueCase{
	TypeThing: {
		{"iPhone 15 Pro", ""}, {"顺丰速运", ""}, {"高等数学（上）!@#", ""}, {strings.Repeat("字", 20), ""}, {"😀 emoji ok", ""},
		{strings.Repeat("字", 21), RuleTooLong}, {"", RuleEmpty}, {"   ", RuleEmpty}, {"line\nbreak", RuleControl},
		{"tab\there", RuleControl}, {"a\u2028b", RuleControl}, {"bad\xffutf8", RuleEncoding},
	},
	TypeShortThing: {
		{"微信支付", ""}, {"abcde", ""}, {"带课本", ""},
		{"abcdef", RuleTooLong}, {"", RuleEmpty}, {"a\nb", RuleControl},
	},
	TypeNumber: {
		{"2", ""}, {"2.5", ""}, {"0.50", ""}, {strings.Repeat("9", 32), ""}, {"1234567890.123", ""},
		{strings.Repeat("9", 33), RuleTooLong}, {"-1", RuleFormat}, {"1.", RuleFormat}, {".5", RuleFormat}, {"1.2.3", RuleFormat},
		{"12a", RuleFormat}, {"1,000", RuleFormat}, {"１２", RuleFormat}, {"", RuleEmpty},
	},
	TypeLetter: {
		{"VIP", ""}, {"a", ""}, {strings.Repeat("z", 32), ""},
		{strings.Repeat("z", 33), RuleTooLong}, {"A1", RuleCharset}, {"a b", RuleCharset}, {"中", RuleCharset}, {"é", RuleCharset},
	},
	TypeSymbol: {
		{"!!", ""}, {"@#$%^", ""}, {"★", ""}, {"！？", ""},
		{"!!!!!!", RuleTooLong}, {"a!", RuleCharset}, {"1", RuleCharset}, {"中", RuleCharset}, {"! !", RuleCharset},
	},
	TypeCharacterString: {
		{"2024052011230001", ""}, {"SF-123_456#7", ""}, {strings.Repeat("a", 32), ""},
		{strings.Repeat("a", 33), RuleTooLong}, {"订单1", RuleCharset}, {"AB 12", RuleCharset},
	},
	TypeTime: {
		{"15:01", ""}, {"15:01:09", ""}, {"9:05", ""}, {"2019年10月1日 15:01", ""}, {"2019年10月1日15:01", ""},
		{"2019-10-01 15:01", ""}, {"2019/10/01 15:01:09", ""}, {"10月1日 08:00", ""}, {"15:01~16:00", ""},
		{"2019-10-01 15:01 ~ 2019-10-01 16:00", ""}, {"00:00", ""}, {"23:59:59", ""},
		{"24:00", RuleFormat}, {"15:60", RuleFormat}, {"15:1", RuleFormat}, {"3pm", RuleFormat}, {"2019-10-01", RuleFormat},
		{"2019-10-0115:01", RuleFormat}, {"15:01～16:00", RuleFullWidthTilde}, {"15:01~", RuleFormat},
		{"1:00~2:00~3:00", RuleFormat}, {"2019-02-30 10:00", RuleFormat}, {"", RuleEmpty},
	},
	TypeDate: {
		{"2019年10月1日", ""}, {"2019-10-01", ""}, {"2019/10/01", ""}, {"2019.10.01", ""}, {"2019年10月", ""},
		{"10月1日", ""}, {"2019-10", ""}, {"10-01", ""}, {"2019-10-01 15:01", ""}, {"2019年10月1日 15:01", ""},
		{"2019-10-01~2019-10-07", ""}, {"10月1日~10月7日", ""}, {"2020-02-29", ""}, {"2-29", ""},
		{"2019-13-01", RuleFormat}, {"2019-02-29", RuleFormat}, {"2019-04-31", RuleFormat}, {"10-32", RuleFormat},
		{"19-10-01", RuleFormat}, {"yesterday", RuleFormat}, {"2019-10-01 25:00", RuleFormat}, {"2019年13月", RuleFormat},
		{"2019-10~2019-11", ""}, {"2019-10-01～2019-10-07", RuleFullWidthTilde}, {"2019-10 15:01", RuleFormat},
	},
	TypeAmount: {
		{"¥100.50", ""}, {"100元", ""}, {"$5", ""}, {"￥1234567890", ""}, {"€0.99", ""}, {"100", ""}, {"¥100元", ""},
		{"¥12345678901", RuleFormat}, {"¥", RuleFormat}, {"元", RuleFormat}, {"¥-5", RuleFormat}, {"¥1,000", RuleFormat},
		{"¥¥5", RuleFormat}, {"100块", RuleFormat}, {"RMB100", RuleFormat},
	},
	TypePhoneNumber: {
		{"+86-0766-66888866", ""}, {"13800138000", ""}, {"(0755)8888", ""}, {strings.Repeat("1", 17), ""},
		{strings.Repeat("1", 18), RuleTooLong}, {"1380013800a", RuleCharset}, {"138 0013", RuleCharset}, {"１３８", RuleCharset},
	},
	TypeCarNumber: {
		{"粤A8Z888挂", ""}, {"京A12345", ""}, {"AB12345", ""}, {"粤B12345学", ""},
		{"粤A8Z8888挂", RuleTooLong}, {"粤A8中888", RuleCharset}, {"粤A-123", RuleCharset},
	},
	TypeName: {
		{"张三", ""}, {"欧阳娜娜", ""}, {"Alice Wang", ""}, {"O'Brien-Smith", ""}, {"张Alice", ""}, {strings.Repeat("张", 10), ""},
		{strings.Repeat("a", 20), ""}, {"阿卜杜·热西提", ""},
		{strings.Repeat("张", 11), RuleTooLong}, {"张" + strings.Repeat("a", 10), RuleTooLong}, {strings.Repeat("a", 21), RuleTooLong},
		{"Agent 007", RuleCharset},
	},
	TypePhrase: {
		{"配送中", ""}, {"已签收", ""}, {"五个汉字啊", ""},
		{"六个汉字啊啊", RuleTooLong}, {"OK", RuleCharset}, {"配送 中", RuleCharset}, {"配送中!", RuleCharset},
	},
	TypeEnumString: {
		{"客厅", ""}, {"卧室", ""},
		{"厨房", RuleEnum}, {"客厅 ", RuleEnum}, {"", RuleEmpty},
	},
}

func TestCheckValueEveryType(t *testing.T) {
	for _, typ := range KnownTypes {
		cases, ok := valueCases[typ]
		if !ok {
			t.Errorf("no cases for type %s", typ)
			continue
		}
		hasValid, hasInvalid := false, false
		for _, c := range cases {
			kw := Keyword{Label: "标签", Key: typ + "7", Type: typ}
			if typ == TypeEnumString {
				kw.Enum = []string{"客厅", "卧室"}
			}
			err := CheckValue(kw, c.value)
			if c.rule == "" {
				hasValid = true
				if err != nil {
					t.Errorf("%s %q: unexpected error: %v", typ, c.value, err)
				}
				continue
			}
			hasInvalid = true
			var ve *ValueError
			if !errors.As(err, &ve) {
				t.Errorf("%s %q: err = %v, want rule %s", typ, c.value, err, c.rule)
				continue
			}
			if ve.Rule != c.rule || ve.Key != kw.Key || ve.Label != "标签" {
				t.Errorf("%s %q: got %+v, want rule %s", typ, c.value, ve, c.rule)
			}
		}
		if !hasValid || !hasInvalid {
			t.Errorf("type %s needs valid and invalid examples", typ)
		}
	}
}

func TestShortThingConfigurable(t *testing.T) {
	kw := Keyword{Key: "short_thing1", Type: TypeShortThing}
	if err := CheckValue(kw, "123456"); err == nil {
		t.Fatal("default short_thing limit should be 5")
	}
	r := Rules{ShortThingMax: 8}
	if err := r.Check(kw, "12345678"); err != nil {
		t.Fatalf("ShortThingMax 8: %v", err)
	}
	var ve *ValueError
	if err := r.Check(kw, "123456789"); !errors.As(err, &ve) || ve.Max != 8 || ve.Len != 9 {
		t.Fatalf("ShortThingMax 8, 9 chars: %v", err)
	}
	if !strings.Contains(ve.Message("en"), "up to 8") {
		t.Errorf("message should state the configured limit: %s", ve.Message("en"))
	}
}

func TestUnknownTypeAndEnumWithoutValues(t *testing.T) {
	if err := CheckValue(Keyword{Key: "future_type1", Type: "future_type"}, strings.Repeat("x", 20)); err != nil {
		t.Errorf("unknown type, 20 chars: %v", err)
	}
	if err := CheckValue(Keyword{Key: "future_type1", Type: "future_type"}, strings.Repeat("x", 21)); err == nil {
		t.Error("unknown type, 21 chars accepted")
	}
	if err := CheckValue(Keyword{Key: "enum_string1", Type: TypeEnumString}, "anything"); err != nil {
		t.Errorf("enum without known values should accept: %v", err)
	}
}

func TestValueErrorMessages(t *testing.T) {
	kw := Keyword{Label: "商品名称", Key: "thing1", Type: TypeThing}
	err := CheckValue(kw, strings.Repeat("长", 23))
	var ve *ValueError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	en, zh := ve.Message("en"), ve.Message("zh_CN")
	for _, want := range []string{"thing1", "商品名称", "23 characters", "at most 20", "thing: up to 20"} {
		if !strings.Contains(en, want) {
			t.Errorf("en message %q lacks %q", en, want)
		}
	}
	for _, want := range []string{"thing1", "商品名称", "23", "最多 20"} {
		if !strings.Contains(zh, want) {
			t.Errorf("zh message %q lacks %q", zh, want)
		}
	}
	if ve.Error() != en {
		t.Error("Error() should be the English message")
	}
	err = CheckValue(Keyword{Key: "time2", Type: TypeTime}, "15:01～16:00")
	if !strings.Contains(err.Error(), "~") || !strings.Contains(err.(*ValueError).Message("zh"), "半角") {
		t.Errorf("tilde message: %v", err)
	}
}

func TestCheckData(t *testing.T) {
	kws, err := ParseContent("商品:{{thing1.DATA}}\n时间:{{time2.DATA}}\n金额:{{amount3.DATA}}")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckData(kws, map[string]string{"thing1": "书", "time2": "15:01", "amount3": "¥1", "extra9": "ignored"}); err != nil {
		t.Fatalf("valid data: %v", err)
	}
	err = CheckData(kws, map[string]string{"thing1": "书", "time2": "3pm"})
	var ves ValueErrors
	if !errors.As(err, &ves) || len(ves) != 2 {
		t.Fatalf("err = %v", err)
	}
	if ves[0].Key != "time2" || ves[0].Rule != RuleFormat || ves[1].Key != "amount3" || ves[1].Rule != RuleMissing {
		t.Fatalf("got %+v %+v", ves[0], ves[1])
	}
	if msg := ves.Message("zh"); !strings.Contains(msg, "time2") || !strings.Contains(msg, "amount3") {
		t.Errorf("joined message: %s", msg)
	}
}

func TestSplitKey(t *testing.T) {
	for key, want := range map[string]string{"thing1": "thing", "character_string12": "character_string", "phone_number3": "phone_number", "short_thing2": "short_thing"} {
		typ, _, ok := SplitKey(key)
		if !ok || typ != want {
			t.Errorf("SplitKey(%q) = %q, %v", key, typ, ok)
		}
	}
	if _, idx, _ := SplitKey("enum_string15"); idx != 15 {
		t.Errorf("index = %d", idx)
	}
	for _, bad := range []string{"", "1", "thing", "Thing1", "thing_1x", "thing_1", "_1"} {
		if _, _, ok := SplitKey(bad); ok {
			t.Errorf("SplitKey(%q) ok", bad)
		}
	}
}
