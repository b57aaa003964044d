package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
)

// MaxImportBytes bounds an uploaded CSV (a million users is ~60 MB).
const MaxImportBytes = 512 << 20

// Imports is the CSV import of users: upload, progress, rejected rows.
type Imports struct {
	Env
	// Dir holds uploads while they are imported ("": the system's temp dir).
	Dir string
}

func (h *Imports) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.people")}, {Label: T(c, "nav.users"), Href: "/users"}, {Label: T(c, "import.title"), Href: "/users/import"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "import.title"), Nav: "users", Crumbs: crumbs}
}

func (h *Imports) form(c echo.Context, f views.ImportForm) (views.ImportPage, error) {
	ctx := c.Request().Context()
	apps, err := appOptions(ctx, h.DB)
	if err != nil {
		return views.ImportPage{}, err
	}
	if f.App == "" && len(apps) > 0 {
		f.App = apps[0].Value
	}
	if f.Encoding == "" {
		f.Encoding = models.EncodingAuto
	}
	p := views.ImportPage{Apps: apps, Form: f}
	if appID, _ := strconv.ParseInt(f.App, 10, 64); appID != 0 {
		// An import whose instance stopped shows as interrupted, not running.
		if _, err := models.InterruptStaleImports(ctx, h.DB, h.Now()); err != nil {
			return p, err
		}
		imps, err := models.ListImports(ctx, h.DB, appID, 20)
		if err != nil {
			return p, err
		}
		for i := range imps {
			p.Recent = append(p.Recent, importView(&imps[i]))
		}
	}
	return p, nil
}

func importView(imp *models.UserImport) views.ImportView {
	return views.ImportView{ID: imp.ID, AppID: imp.AppID, Filename: imp.Filename, Encoding: imp.Encoding, Status: imp.Status, Percent: imp.Percent(),
		Rows: imp.TotalRows, Imported: imp.Imported, Rejected: imp.Rejected, Error: imp.Error, CreatedAt: imp.CreatedAt, FinishedAt: imp.FinishedAt}
}

// New shows the upload form and the account's recent imports.
func (h *Imports) New(c echo.Context) error {
	p, err := h.form(c, views.ImportForm{App: c.QueryParam("app")})
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, ""), views.ImportNew(p))
}

// Create stores the upload and imports it in the background; the import's
// page shows its progress.
func (h *Imports) Create(c echo.Context) error {
	ctx := c.Request().Context()
	f := views.ImportForm{App: c.FormValue("app"), Encoding: c.FormValue("encoding"), Errors: map[string]string{}}
	var app *models.App
	if id, err := strconv.ParseInt(f.App, 10, 64); err == nil {
		if app, err = models.GetApp(ctx, h.DB, id); err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
	}
	if app == nil {
		f.Errors["app"] = T(c, "form.choose")
	}
	switch f.Encoding {
	case models.EncodingAuto, models.EncodingUTF8, models.EncodingGB18030:
	default:
		f.Errors["encoding"] = T(c, "form.choose")
	}
	fh, err := c.FormFile("file")
	if err != nil || fh.Size == 0 {
		f.Errors["file"] = T(c, "import.file_required")
	} else if fh.Size > MaxImportBytes {
		f.Errors["file"] = T(c, "import.file_too_big", MaxImportBytes>>20)
	}
	if len(f.Errors) > 0 {
		p, err := h.form(c, f)
		if err != nil {
			return err
		}
		return Render(c, http.StatusUnprocessableEntity, h.page(c, ""), views.ImportNew(p))
	}
	src, err := fh.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(h.Dir, "minipush-import-*.csv")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	staffID := CurrentStaff(c).ID
	name := filepath.Base(strings.ReplaceAll(fh.Filename, `\`, "/"))
	if len(name) > 180 {
		name = name[:180]
	}
	imp := &models.UserImport{AppID: app.ID, StaffID: &staffID, Filename: name, SizeBytes: fh.Size, Encoding: f.Encoding}
	if err := models.CreateImport(ctx, h.DB, imp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "user.import", "app", app.AppID, map[string]any{"import": imp.ID, "file": name, "bytes": fh.Size}); err != nil {
		return err
	}
	go func(enc string) {
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if err := models.RunUserImport(context.Background(), h.DB, imp, tmp, enc); err != nil {
			h.Log.Error("user import failed", "import", imp.ID, "err", err)
		}
	}(f.Encoding)
	return Redirect(c, "/users/imports/"+strconv.FormatInt(imp.ID, 10))
}

func (h *Imports) load(c echo.Context) (*models.UserImport, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	// Cut off by a stop of its instance: say so rather than "running".
	if _, err := models.InterruptStaleImports(c.Request().Context(), h.DB, h.Now(), id); err != nil {
		return nil, err
	}
	imp, err := models.GetImport(c.Request().Context(), h.DB, id)
	return imp, NotFound(err)
}

// Show is an import's progress (htmx polls it while it runs) and result.
func (h *Imports) Show(c echo.Context) error {
	imp, err := h.load(c)
	if err != nil {
		return err
	}
	v := importView(imp)
	if IsPartial(c) {
		return RenderBare(c, http.StatusOK, views.ImportProgress(v))
	}
	return Render(c, http.StatusOK, h.page(c, imp.Filename), views.ImportShow(v))
}

// Rejected downloads the rejected rows with the reason for each (UTF-8
// with a BOM, so Excel shows Chinese).
func (h *Imports) Rejected(c echo.Context) error {
	imp, err := h.load(c)
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="import-`+strconv.FormatInt(imp.ID, 10)+`-rejected.csv"`)
	res.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(res, "\uFEFF"); err != nil {
		return err
	}
	// Reasons are stored as codes; the file says them in the reader's language.
	rd := csv.NewReader(strings.NewReader(imp.Report))
	rd.FieldsPerRecord = -1
	w := csv.NewWriter(res)
	for first := true; ; first = false {
		rec, err := rd.Read()
		if err != nil {
			break
		}
		if first {
			rec[0], rec[1] = T(c, "import.col.line"), T(c, "import.col.reason")
		} else if len(rec) > 1 {
			rec[1] = T(c, "import.reject."+rec[1])
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
