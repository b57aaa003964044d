package views

import "context"

// pressed is aria-pressed for the language switch's button of lang.
func pressed(ctx context.Context, lang string) string {
	if Req(ctx).Lang == lang {
		return "true"
	}
	return "false"
}
