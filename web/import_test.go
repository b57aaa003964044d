package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// upload posts a multipart form with one file, as the browser does.
func (c *client) upload(path string, fields map[string]string, filename string, file []byte) response {
	c.app.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("_csrf", c.csrf())
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.app.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func waitImport(t *testing.T, db *gorm.DB, id int64) *models.UserImport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		imp, err := models.GetImport(context.Background(), db, id)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Status != models.ImportRunning {
			return imp
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("import still running")
	return nil
}

const importCSV = "openid,unionid,业务用户ID,标签,姓名\n" +
	"o_zhang,u_zhang,cust-1,vip|北京,张三\n" +
	",u_nobody,cust-2,,李四\n" +
	"bad id,,,,王五\n" +
	"o_short,only-two\n" +
	"o_li,,cust-3,上海,李雷\n"

func TestImportUsersEncodingsAndRejectedRows(t *testing.T) {
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(importCSV)
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name, enc, want string
		data            []byte
	}{
		{"utf8-bom", "auto", models.EncodingUTF8, []byte("\uFEFF" + importCSV)},
		{"utf8", "auto", models.EncodingUTF8, []byte(importCSV)},
		{"gbk-auto", "auto", models.EncodingGB18030, []byte(gbk)},
		{"gbk-chosen", "gb18030", models.EncodingGB18030, []byte(gbk)},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		f := newSupportFixture(t, db)
		op := f.app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		op.lang = "en"
		// No file: 422 under the field, nothing recorded.
		r := op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "empty.csv", nil)
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid="error-file"]`).Length() != 1 {
			t.Fatalf("no error under the file field:\n%.1500s", r.body)
		}
		for _, file := range files {
			t.Run(file.name, func(t *testing.T) {
				db.Exec("DELETE FROM user_tags")
				db.Exec("DELETE FROM users")
				r := op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": file.enc}, file.name+".csv", file.data)
				wantRedirect(t, r, "/users/imports/")
				impID := strings.TrimPrefix(r.header.Get("Location"), "/users/imports/")
				var n int64
				for _, ch := range impID {
					n = n*10 + int64(ch-'0')
				}
				imp := waitImport(t, db, n)
				if imp.Status != models.ImportDone || imp.Encoding != file.want || imp.TotalRows != 5 || imp.Imported != 2 || imp.Rejected != 3 {
					t.Fatalf("import %+v", imp)
				}
				u, err := models.GetUserByOpenID(ctx, db, f.a.ID, "o_zhang")
				if err != nil {
					t.Fatal(err)
				}
				if u.UnionID != "u_zhang" || u.BusinessID != "cust-1" || u.Attrs()["姓名"] != "张三" || strings.Join(u.TagList(), ",") != "vip,北京" {
					t.Fatalf("user %+v attrs %v tags %v", u, u.Attrs(), u.TagList())
				}
				// Tags are searchable at once.
				r = op.get("/users?app=" + id(f.a.ID) + "&field=tag&q=" + "%E5%8C%97%E4%BA%AC")
				if rows := testids(r.doc(t), `[data-testid^="user-row-"]`); len(rows) != 1 {
					t.Fatalf("tag search after import: %v", rows)
				}
				page := op.get("/users/imports/" + impID)
				want(t, page, http.StatusOK)
				if s, _ := page.doc(t).Find(`[data-testid="import-progress"]`).Attr("data-status"); s != "done" {
					t.Fatalf("import page status %q", s)
				}
				rep := op.get("/users/imports/" + impID + "/rejected.csv")
				want(t, rep, http.StatusOK)
				rd := csv.NewReader(strings.NewReader(strings.TrimPrefix(rep.body, "\uFEFF")))
				rd.FieldsPerRecord = -1 // a short row is reported as it was
				recs, err := rd.ReadAll()
				if err != nil || len(recs) != 4 {
					t.Fatalf("report (%v): %q", err, rep.body)
				}
				if recs[1][0] != "3" || recs[1][1] != "openid is empty" || recs[1][6] != "李四" ||
					!strings.HasPrefix(recs[2][1], "openid is malformed") || !strings.HasPrefix(recs[3][1], "the number of columns") {
					t.Fatalf("report rows %q", recs)
				}
			})
		}
		// A later file updates the columns it has and keeps the others.
		r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "upd.csv", []byte("OpenID,Business ID\no_zhang,cust-9\no_zhang,cust-10\n"))
		wantRedirect(t, r, "/users/imports/")
		var last models.UserImport
		db.Order("id DESC").First(&last)
		if imp := waitImport(t, db, last.ID); imp.Imported != 2 || imp.Rejected != 0 {
			t.Fatalf("update import %+v", imp)
		}
		u, _ := models.GetUserByOpenID(ctx, db, f.a.ID, "o_zhang")
		if u.BusinessID != "cust-10" || u.UnionID != "u_zhang" || u.Attrs()["姓名"] != "张三" || len(u.TagList()) != 2 {
			t.Fatalf("after an update import: %+v", u)
		}
		// Attribute columns set the attributes a row has values for and keep
		// the user's others (a sparse file never erases what it does not
		// name); a file naming a user twice merges the rows, the later over
		// the earlier.
		if err := db.Model(&models.User{}).Where("app_id = ? AND openid = ?", f.a.ID, "o_li").
			Update("attributes", `{"level":4,"城市":"上海","昵称":"小红","姓名":"李雷"}`).Error; err != nil {
			t.Fatal(err)
		}
		r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "attrs.csv",
			[]byte("openid,城市,昵称,商品\no_li,北京,,手表\no_li,,,耳机\no_zhang,,,\n"))
		wantRedirect(t, r, "/users/imports/")
		var attrImp models.UserImport
		db.Order("id DESC").First(&attrImp)
		if imp := waitImport(t, db, attrImp.ID); imp.Imported != 3 || imp.Rejected != 0 {
			t.Fatalf("attribute import %+v", imp)
		}
		u, _ = models.GetUserByOpenID(ctx, db, f.a.ID, "o_li")
		if a := u.Attrs(); a["level"] != float64(4) || a["城市"] != "北京" || a["昵称"] != "小红" || a["商品"] != "耳机" || a["姓名"] != "李雷" {
			t.Fatalf("attributes after a sparse import: %v", a)
		}
		if u, _ = models.GetUserByOpenID(ctx, db, f.a.ID, "o_zhang"); u.Attrs()["姓名"] != "张三" {
			t.Fatalf("a row of empty attribute cells changed the attributes: %v", u.Attrs())
		}
		// An id with control characters or text-direction marks is a
		// rejected row, with the reason.
		r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "bidi.csv",
			[]byte("openid,business_id\no_bidi,\u202eabc\no_fine,cust-f\n"))
		wantRedirect(t, r, "/users/imports/")
		var bidiImp models.UserImport
		db.Order("id DESC").First(&bidiImp)
		if imp := waitImport(t, db, bidiImp.ID); imp.Imported != 1 || imp.Rejected != 1 || !strings.Contains(imp.Report, models.RejectHiddenChars) {
			t.Fatalf("import with a hidden character %+v", imp)
		}

		// A file without an openid column fails with words, not Go text.
		r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "x.csv", []byte("name,city\n张三,北京\n"))
		wantRedirect(t, r, "/users/imports/")
		page := op.get(r.header.Get("Location"))
		for i := 0; i < 100 && strings.Contains(page.body, `data-status="running"`); i++ {
			time.Sleep(20 * time.Millisecond)
			page = op.get(r.header.Get("Location"))
		}
		if !strings.Contains(page.doc(t).Find(`[data-testid="import-error"]`).Text(), "no openid column") {
			t.Fatalf("no-openid file:\n%.2000s", page.body)
		}
		// A file read in the wrong encoding is refused, nothing imported:
		// GBK chosen as UTF-8, UTF-8 chosen as GB18030 (each stored garbled
		// Chinese before). A row of other bytes in a UTF-8 file is rejected.
		var before int64
		db.Model(&models.User{}).Count(&before)
		for _, tc := range []struct {
			enc, words string
			data       []byte
		}{
			{"utf-8", "is not UTF-8", []byte(gbk)},
			{"gb18030", "The file is UTF-8", []byte(importCSV)},
		} {
			r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": tc.enc}, "enc.csv", tc.data)
			wantRedirect(t, r, "/users/imports/")
			var encImp models.UserImport
			db.Order("id DESC").First(&encImp)
			if imp := waitImport(t, db, encImp.ID); imp.Status != models.ImportFailed || imp.Imported != 0 {
				t.Fatalf("%s: import %+v", tc.enc, imp)
			}
			if e := op.get(r.header.Get("Location")).doc(t).Find(`[data-testid="import-error"]`).Text(); !strings.Contains(e, tc.words) {
				t.Fatalf("%s: error %q, want %q", tc.enc, e, tc.words)
			}
		}
		var after int64
		db.Model(&models.User{}).Count(&after)
		if after != before {
			t.Fatalf("refused files made %d users", after-before)
		}
		mixed := []byte("openid,城市\no_mix1,北京\n")
		for i := range 100 { // 70 KiB of UTF-8 before the GBK row
			mixed = append(mixed, "o_pad"+strconv.Itoa(i)+","+strings.Repeat("x", 700)+"\n"...)
		}
		mixed = append(mixed, "o_mix2,"...)
		mixed = append(append(mixed, gbk[len("openid,unionid,"):len("openid,unionid,")+4]...), '\n')
		r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "mixed.csv", mixed)
		wantRedirect(t, r, "/users/imports/")
		var mixImp models.UserImport
		db.Order("id DESC").First(&mixImp)
		if imp := waitImport(t, db, mixImp.ID); imp.Encoding != models.EncodingUTF8 || imp.Rejected != 1 || !strings.Contains(imp.Report, models.RejectBadEncoding) {
			t.Fatalf("a GBK row after 64 KiB of UTF-8: %+v", imp)
		}

		// A GBK file whose first 64 KiB are ASCII is still GBK; Excel's
		// "Unicode text" is UTF-16 with tabs.
		late := []byte("openid,城市\n")
		late = late[:len("openid,")] // the header in ASCII: "openid,city"
		late = append(late, "city\n"...)
		for i := range 100 {
			late = append(late, "o_late"+strconv.Itoa(i)+","+strings.Repeat("y", 700)+"\n"...)
		}
		bj, _ := simplifiedchinese.GBK.NewEncoder().String("o_late_bj,北京\n")
		late = append(late, bj...)
		utf16 := []byte{0xFF, 0xFE}
		for _, r := range "openid\t城市\r\no_tab\t上海\r\n" {
			utf16 = append(utf16, byte(r), byte(r>>8))
		}
		for _, tc := range []struct {
			name, enc, openid, attr, val string
			data                         []byte
		}{{"late GBK", models.EncodingGB18030, "o_late_bj", "city", "北京", late}, {"UTF-16 tabs", models.EncodingUTF16, "o_tab", "城市", "上海", utf16}} {
			r = op.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "late.csv", tc.data)
			wantRedirect(t, r, "/users/imports/")
			var imp models.UserImport
			db.Order("id DESC").First(&imp)
			if got := waitImport(t, db, imp.ID); got.Status != models.ImportDone || got.Encoding != tc.enc || got.Rejected != 0 {
				t.Fatalf("%s: import %+v", tc.name, got)
			}
			u, err := models.GetUserByOpenID(ctx, db, f.a.ID, tc.openid)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if a := u.Attrs(); a[tc.attr] != tc.val {
				t.Fatalf("%s: attributes %v", tc.name, a)
			}
		}

		var audits int64
		db.Model(&models.AuditEntry{}).Where("action = ?", "user.import").Count(&audits)
		if audits != int64(len(files))+9 {
			t.Fatalf("%d import audit rows", audits)
		}
	})
}
