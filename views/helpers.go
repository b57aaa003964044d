package views

import (
	"context"

	"github.com/minipush/minipush/views/components"
)

func htmlLang(ctx context.Context) string {
	if Req(ctx).Lang == "en" {
		return "en"
	}
	return "zh-CN"
}

func viewerLabel(v *components.Viewer) string {
	if v.Name != "" {
		return v.Name
	}
	return v.Email
}
