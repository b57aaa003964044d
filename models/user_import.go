package models

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	"gorm.io/gorm"
)

// Import statuses.
const (
	ImportRunning = "running"
	ImportDone    = "done"
	ImportFailed  = "failed"
	// ImportInterrupted: the instance running it stopped (shutdown, crash)
	// before the end; rows already written stay. Staff upload the file
	// again: imported rows are updated, not duplicated.
	ImportInterrupted = "interrupted"
)

// File encodings an import reads.
const (
	EncodingAuto    = "auto"    // UTF-8 (with or without BOM) when the start of the file is valid UTF-8, else GB18030
	EncodingUTF8    = "utf-8"   //
	EncodingGB18030 = "gb18030" // also reads GBK and GB2312, its subsets
	EncodingUTF16   = "utf-16"  // read whenever the file starts with a UTF-16 BOM
)

// UserImport is one CSV import of users, with its progress and the report
// of rejected rows.
type UserImport struct {
	ID         int64
	AppID      int64 `gorm:"column:app_id"`
	StaffID    *int64
	Filename   string
	Encoding   string // the encoding read (auto resolved)
	Status     string
	SizeBytes  int64
	DoneBytes  int64
	TotalRows  int64
	Imported   int64
	Rejected   int64
	Report     string // CSV: line, reason, the row as read (first maxReportRows rejected rows)
	Error      string // a stable code when the whole file was refused
	CreatedAt  time.Time
	FinishedAt *time.Time
	// UpdatedAt is the running import's heartbeat (migration 11): written
	// with every batch and every importHeartbeat, so an import whose
	// instance stopped is told from one still running.
	UpdatedAt *time.Time
}

// Percent is how much of the file is read.
func (i *UserImport) Percent() int {
	if i.Status != ImportRunning && i.Status != ImportInterrupted {
		return 100
	}
	if i.SizeBytes <= 0 {
		return 0
	}
	return int(min(99, i.DoneBytes*100/i.SizeBytes))
}

// CreateImport records an import about to run.
func CreateImport(ctx context.Context, db *gorm.DB, imp *UserImport) error {
	now := time.Now().UTC()
	imp.Status, imp.CreatedAt, imp.UpdatedAt = ImportRunning, now, &now
	return translate(db.WithContext(ctx).Create(imp).Error)
}

// importHeartbeat is how often a running import says it is alive, and
// ImportStaleAfter how long without a sign of life makes it interrupted.
const (
	importHeartbeat  = 5 * time.Second
	ImportStaleAfter = 30 * time.Second
)

// InterruptStaleImports marks interrupted the running imports (all, or
// those of ids) whose last sign of life is older than ImportStaleAfter:
// their instance stopped mid-file. serve calls it at start-up; an
// import's page calls it for that import. It returns how many it marked.
func InterruptStaleImports(ctx context.Context, db *gorm.DB, now time.Time, ids ...int64) (int64, error) {
	q := db.WithContext(ctx).Model(&UserImport{}).
		Where("status = ? AND COALESCE(updated_at, created_at) < ?", ImportRunning, now.Add(-ImportStaleAfter).UTC())
	if len(ids) > 0 {
		q = q.Where("id IN ?", ids)
	}
	res := q.Updates(map[string]any{"status": ImportInterrupted, "finished_at": now.UTC()})
	return res.RowsAffected, res.Error
}

// GetImport loads an import.
func GetImport(ctx context.Context, db *gorm.DB, id int64) (*UserImport, error) {
	var imp UserImport
	if err := db.WithContext(ctx).First(&imp, id).Error; err != nil {
		return nil, translate(err)
	}
	return &imp, nil
}

// ListImports returns an account's latest imports (without their reports).
func ListImports(ctx context.Context, db *gorm.DB, appID int64, limit int) ([]UserImport, error) {
	var out []UserImport
	err := db.WithContext(ctx).Omit("report").Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

const (
	importBatch   = 500
	maxReportRows = 10000
)

// Import rejection reasons (stable codes, words in the console's catalog).
const (
	RejectOpenIDMissing = "openid_missing"
	RejectOpenIDInvalid = "openid_invalid"
	RejectTooLong       = "too_long"
	RejectColumns       = "columns"
	RejectTooManyTags   = "too_many_tags"
	RejectHiddenChars   = "hidden_chars"
)

// Import file errors (UserImport.Error).
const (
	ImportNoHeader = "no_header"
	ImportNoOpenID = "no_openid_column"
	ImportBadCSV   = "bad_csv"
	// ImportNotUTF8: UTF-8 was chosen and the file is not UTF-8 (an Excel
	// CSV saved on Chinese Windows is GBK); ImportLooksUTF8: GB18030 was
	// chosen for a file that reads as UTF-8 with Chinese in it. Either way
	// every Chinese value would be stored garbled.
	ImportNotUTF8   = "not_utf8"
	ImportLooksUTF8 = "looks_utf8"
)

// RejectBadEncoding: a row (after the first 64 KiB the encoding was judged
// by) holds bytes that are not UTF-8.
const RejectBadEncoding = "bad_encoding"

// importEncodingError refuses a file read in the wrong encoding (code:
// ImportNotUTF8 or ImportLooksUTF8).
type importEncodingError struct{ code string }

func (e importEncodingError) Error() string { return "import: " + e.code }

var importOpenID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// importColumn maps a header to its field; anything else is an attribute.
func importColumn(h string) string {
	k := strings.ToLower(strings.TrimSpace(h))
	k = strings.NewReplacer(" ", "", "_", "", "-", "").Replace(k)
	switch k {
	case "openid":
		return "openid"
	case "unionid":
		return "unionid"
	case "businessid", "业务用户id", "业务id", "用户id":
		return "business_id"
	case "tags", "tag", "标签":
		return "tags"
	}
	return ""
}

// countingReader counts the bytes read from the file.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// importText is a file's text as UTF-8 and the encoding it is read in.
type importText struct {
	io.Reader
	// enc: the encoding resolved. In "auto" mode a file whose first
	// 64 KiB are ASCII is read as it comes: enc is EncodingUTF8 until the
	// first other byte, where the 64 KiB from there decide (lazyDecoder).
	enc string
}

// decodeImport returns the file's text as UTF-8: a UTF-8 BOM is dropped, a
// UTF-16 BOM read as such; "auto" reads UTF-8 when the first 64 KiB with
// more than ASCII in them are valid UTF-8, and GB18030 (GBK's superset)
// otherwise. A choice the file contradicts is an importEncodingError.
func decodeImport(r io.Reader, enc string) (*importText, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if bytes.HasPrefix(head, []byte("\xFF\xFE")) || bytes.HasPrefix(head, []byte("\xFE\xFF")) {
		// UTF-16 with its BOM (Excel's "Unicode text"): unmistakable,
		// whatever was chosen.
		order := unicode.LittleEndian
		if head[0] == 0xFE {
			order = unicode.BigEndian
		}
		return &importText{transform.NewReader(br, unicode.UTF16(order, unicode.ExpectBOM).NewDecoder()), EncodingUTF16}, nil
	}
	if bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
		if enc == EncodingAuto {
			enc = EncodingUTF8
		}
		head = head[3:]
	}
	ascii := !bytes.ContainsFunc(head, func(r rune) bool { return r >= utf8.RuneSelf })
	utf8Head := validUTF8Prefix(head)
	switch enc {
	case EncodingAuto:
		if ascii {
			t := &importText{enc: EncodingUTF8}
			t.Reader = &lazyDecoder{br: br, text: t}
			return t, nil
		}
		enc = EncodingUTF8
		if !utf8Head {
			enc = EncodingGB18030
		}
	case EncodingUTF8:
		if !utf8Head {
			return nil, importEncodingError{ImportNotUTF8}
		}
	case EncodingGB18030:
		// GBK text is almost never valid UTF-8 (its lead bytes are UTF-8
		// continuation bytes): a file that is, with more than ASCII in it,
		// is UTF-8.
		if utf8Head && !ascii {
			return nil, importEncodingError{ImportLooksUTF8}
		}
	}
	return &importText{textReader(br, enc), enc}, nil
}

func textReader(br *bufio.Reader, enc string) io.Reader {
	if enc == EncodingGB18030 {
		return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
	}
	return br
}

// lazyDecoder passes ASCII through until the first other byte, then reads
// the rest as UTF-8 or GB18030, as the 64 KiB from that byte on tell (a
// GBK file whose first thousand rows hold no Chinese is still GBK).
type lazyDecoder struct {
	br   *bufio.Reader
	text *importText
	dec  io.Reader
}

func (l *lazyDecoder) Read(p []byte) (int, error) {
	if l.dec != nil {
		return l.dec.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	b, err := l.br.Peek(min(len(p), l.br.Size()))
	if len(b) == 0 {
		return 0, err
	}
	n := bytes.IndexFunc(b, func(r rune) bool { return r >= utf8.RuneSelf })
	if n < 0 {
		n = len(b)
	}
	if n > 0 {
		copy(p, b[:n])
		_, _ = l.br.Discard(n)
		return n, nil
	}
	window, perr := l.br.Peek(l.br.Size())
	if perr != nil && !errors.Is(perr, io.EOF) && !errors.Is(perr, bufio.ErrBufferFull) {
		return 0, perr
	}
	if !validUTF8Prefix(window) {
		l.text.enc = EncodingGB18030
	}
	l.dec = textReader(l.br, l.text.enc)
	return l.dec.Read(p)
}

// importCSV reads a file's text as CSV: comma-separated, or tab-separated
// when the first line has tabs and no comma (Excel's "Unicode text").
func importCSV(text io.Reader) *csv.Reader {
	br := bufio.NewReaderSize(text, 64<<10)
	head, _ := br.Peek(64 << 10)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	rd := csv.NewReader(br)
	if bytes.IndexByte(head, '\t') >= 0 && bytes.IndexByte(head, ',') < 0 {
		rd.Comma = '\t'
	}
	rd.FieldsPerRecord = -1
	rd.ReuseRecord = true
	return rd
}

// validRecord tells whether every field of a CSV record is UTF-8.
func validRecord(rec []string) bool {
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return false
		}
	}
	return true
}

// validUTF8Prefix is utf8.Valid, forgiving a rune cut at the end.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// RunUserImport reads a CSV of users (a header row naming openid and
// optionally unionid, business_id, tags; any other column becomes an
// attribute) and upserts them in batches, recording progress as it goes
// and each rejected row with its reason. Memory does not grow with the
// file. The import row is finished (done or failed) before it returns.
func RunUserImport(ctx context.Context, db *gorm.DB, imp *UserImport, file io.Reader, enc string) error {
	stop := beatImport(db, imp.ID)
	defer stop()
	cr := &countingReader{r: file}
	text, err := decodeImport(cr, enc)
	var encErr importEncodingError
	if errors.As(err, &encErr) {
		return finishImport(ctx, db, imp, ImportFailed, encErr.code, "")
	} else if err != nil {
		return finishImport(ctx, db, imp, ImportFailed, ImportBadCSV, "")
	}
	imp.Encoding = text.enc
	rd := importCSV(text)
	rd.LazyQuotes = true
	header, err := rd.Read()
	if err != nil {
		return finishImport(ctx, db, imp, ImportFailed, ImportNoHeader, "")
	}
	cols := make([]string, len(header))
	attrs := make([]string, len(header))
	openidCol := -1
	for i, h := range header {
		h = strings.TrimPrefix(h, "\uFEFF")
		cols[i] = importColumn(h)
		if cols[i] == "" {
			attrs[i] = strings.TrimSpace(h)
		}
		if cols[i] == "openid" && openidCol < 0 {
			openidCol = i
		}
	}
	if openidCol < 0 {
		return finishImport(ctx, db, imp, ImportFailed, ImportNoOpenID, "")
	}
	present := importColumns{MergeAttributes: true}
	for i, c := range cols {
		switch c {
		case "unionid":
			present.UnionID = true
		case "business_id":
			present.BusinessID = true
		case "tags":
			present.Tags = true
		case "":
			present.Attributes = present.Attributes || attrs[i] != ""
		}
	}
	var report bytes.Buffer
	rw := csv.NewWriter(&report)
	reject := func(line int, reason string, rec []string) {
		imp.Rejected++
		if imp.Rejected <= maxReportRows {
			_ = rw.Write(append([]string{strconv.Itoa(line), reason}, rec...))
		}
	}
	_ = rw.Write(append([]string{"line", "reason"}, header...))
	batch := make([]UserInput, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := bulkUpsertUsers(ctx, db, imp.AppID, batch, present); err != nil {
			return err
		}
		imp.Imported += int64(len(batch))
		batch = batch[:0]
		imp.DoneBytes = cr.n
		return db.WithContext(ctx).Model(&UserImport{}).Where("id = ?", imp.ID).Updates(map[string]any{
			"done_bytes": imp.DoneBytes, "total_rows": imp.TotalRows, "imported": imp.Imported, "rejected": imp.Rejected,
			"encoding": imp.Encoding, "updated_at": time.Now().UTC()}).Error
	}
	line := 1
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				imp.TotalRows++
				reject(line, ImportBadCSV, nil)
				continue
			}
			_ = finishImport(ctx, db, imp, ImportFailed, ImportBadCSV, "")
			return err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		imp.TotalRows++
		imp.Encoding = text.enc // decided late for a file that starts in ASCII
		if text.enc == EncodingUTF8 && !validRecord(rec) {
			// Reported with the bytes replaced (U+FFFD): the report is
			// stored as text, and MySQL refuses invalid UTF-8.
			shown := make([]string, len(rec))
			for i, f := range rec {
				shown[i] = strings.ToValidUTF8(f, "\uFFFD")
			}
			reject(line, RejectBadEncoding, shown)
			continue
		}
		in, reason := importRow(rec, cols, attrs, openidCol, len(header))
		if present.Attributes && in.Attributes == nil {
			in.Attributes = map[string]any{}
		}
		if reason != "" {
			reject(line, reason, rec)
			continue
		}
		batch = append(batch, in)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				_ = finishImport(ctx, db, imp, ImportFailed, "", "")
				return err
			}
		}
	}
	if err := flush(); err != nil {
		_ = finishImport(ctx, db, imp, ImportFailed, "", "")
		return err
	}
	rw.Flush()
	rep := ""
	if imp.Rejected > 0 {
		rep = report.String()
	}
	imp.DoneBytes = cr.n
	return finishImport(ctx, db, imp, ImportDone, "", rep)
}

// importRow turns one record into a user, or says why it is rejected.
func importRow(rec, cols, attrs []string, openidCol, width int) (UserInput, string) {
	var in UserInput
	if len(rec) != width {
		return in, RejectColumns
	}
	in.OpenID = strings.TrimSpace(rec[openidCol])
	switch {
	case in.OpenID == "":
		return in, RejectOpenIDMissing
	case !importOpenID.MatchString(in.OpenID):
		return in, RejectOpenIDInvalid
	}
	for i, v := range rec {
		v = strings.TrimSpace(v)
		switch cols[i] {
		case "unionid", "business_id", "tags":
			if HasHiddenChars(v) {
				return in, RejectHiddenChars
			}
		}
		switch cols[i] {
		case "unionid":
			if utf8.RuneCountInString(v) > 64 {
				return in, RejectTooLong
			}
			s := v
			in.UnionID = &s
		case "business_id":
			if utf8.RuneCountInString(v) > 191 {
				return in, RejectTooLong
			}
			s := v
			in.BusinessID = &s
		case "tags":
			in.Tags = []string{}
			for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ';' || r == '；' || r == ',' || r == '，' }) {
				if t = strings.TrimSpace(t); t != "" {
					if utf8.RuneCountInString(t) > 64 {
						return in, RejectTooLong
					}
					in.Tags = append(in.Tags, t)
				}
			}
			if len(in.Tags) > 50 {
				return in, RejectTooManyTags
			}
		case "":
			if attrs[i] == "" || v == "" {
				continue
			}
			if in.Attributes == nil {
				in.Attributes = map[string]any{}
			}
			if utf8.RuneCountInString(v) > 1000 {
				return in, RejectTooLong
			}
			in.Attributes[attrs[i]] = v
		}
	}
	return in, ""
}

func finishImport(ctx context.Context, db *gorm.DB, imp *UserImport, status, code, report string) error {
	now := time.Now().UTC()
	imp.Status, imp.Error, imp.Report, imp.FinishedAt = status, code, report, &now
	return db.WithContext(ctx).Model(&UserImport{}).Where("id = ?", imp.ID).Updates(map[string]any{
		"status": status, "error": code, "report": report, "finished_at": now, "done_bytes": imp.DoneBytes,
		"total_rows": imp.TotalRows, "imported": imp.Imported, "rejected": imp.Rejected, "encoding": imp.Encoding}).Error
}

// beatImport writes the import's heartbeat every importHeartbeat until
// stop is called (a batch can wait on the database longer than that).
func beatImport(db *gorm.DB, id int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(importHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = db.Model(&UserImport{}).Where("id = ? AND status = ?", id, ImportRunning).Update("updated_at", time.Now().UTC()).Error
			}
		}
	}()
	return func() { close(done); <-finished }
}
