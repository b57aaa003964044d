package handlers

import (
	"errors"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// syncFlash tells staff how a template sync went, in words: what changed,
// which templates were skipped and why, or why the run failed — naming
// WeChat only when WeChat was the cause.
func (h *Templates) syncFlash(c echo.Context, a *models.App, run *models.TemplateSync, err error) {
	lang := Lang(c)
	var fe *models.SyncFetchError
	switch {
	case errors.As(err, &fe):
		h.Log.Warn("template sync: fetching from WeChat failed", "appid", a.AppID, "err", fe.Err)
		SetFlash(c, "error", T(c, "tpl.sync_failed", a.Name, ExplainWeChat(fe.Err, lang)))
		return
	case err != nil:
		h.Log.Error("template sync: storing failed", "appid", a.AppID, "err", err)
		SetFlash(c, "error", T(c, "tpl.sync_failed", a.Name, T(c, "ux.sync.store_failed")))
		return
	}
	msg := T(c, "tpl.synced", a.Name, run.Inserted, run.Updated, run.Deleted, run.Unchanged)
	if o := run.Outcome(); len(o.Skipped) > 0 {
		SetFlash(c, "warning", msg+" "+syncProblems(o, lang))
		return
	}
	SetFlash(c, "success", msg)
}

// syncOutcomeText words a recorded sync run's outcome for the history.
func syncOutcomeText(o models.SyncOutcome, lang string) string {
	var parts []string
	switch {
	case o.Code == "":
	case strings.HasPrefix(o.Code, "wechat."):
		n, _ := strconv.Atoi(strings.TrimPrefix(o.Code, "wechat."))
		parts = append(parts, components.Translate(lang, "wechat.error", wechat.Explain(n, lang)))
	case o.Code == "unseal":
		parts = append(parts, components.Translate(lang, "error.unseal"))
	default:
		parts = append(parts, components.Translate(lang, "ux.sync."+o.Code))
	}
	if len(o.Skipped) > 0 {
		parts = append(parts, syncProblems(o, lang))
	}
	return strings.Join(parts, " ")
}

// syncProblems names each template a run skipped or could not read, and why.
func syncProblems(o models.SyncOutcome, lang string) string {
	items := make([]string, len(o.Skipped))
	for i, p := range o.Skipped {
		items[i] = components.Translate(lang, "ux.sync.problem", p.Title, p.TemplateID, components.Translate(lang, "ux.sync.skip."+p.Code))
	}
	sep := "；"
	if lang == "en" {
		sep = "; "
	}
	return components.Translate(lang, "ux.sync.problems", strings.Join(items, sep))
}
