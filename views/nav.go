package views

import "context"

// The sidebar's entries (layout.templ draws them).

type navItem struct {
	Key, Href, Label string
}

// navGroup is a titled group of menu entries; a group none of whose
// entries the viewer may open is not shown.
type navGroup struct {
	Title string
	Items []navItem
}

// navGroups is the sidebar. Each entry is shown only to roles whose route
// guards let them open it (CanOpen reads the route table).
func navGroups(ctx context.Context) []navGroup {
	all := []navGroup{
		{Items: []navItem{{Key: "dashboard", Href: "/", Label: T(ctx, "nav.dashboard")}}},
		{Title: T(ctx, "nav.group.messaging"), Items: []navItem{
			{Key: "campaigns", Href: "/campaigns", Label: T(ctx, "nav.campaigns")},
			{Key: "templates", Href: "/templates", Label: T(ctx, "nav.templates")}}},
		{Title: T(ctx, "nav.group.people"), Items: []navItem{
			{Key: "users", Href: "/users", Label: T(ctx, "nav.users")},
			{Key: "deliveries", Href: "/deliveries", Label: T(ctx, "nav.deliveries")}}},
		{Title: T(ctx, "nav.group.settings"), Items: []navItem{
			{Key: "apps", Href: "/settings/apps", Label: T(ctx, "nav.apps")},
			{Key: "staff", Href: "/settings/staff", Label: T(ctx, "nav.staff")},
			{Key: "apikeys", Href: "/settings/apikeys", Label: T(ctx, "nav.apikeys")},
			{Key: "audit", Href: "/settings/audit", Label: T(ctx, "nav.audit")},
			{Key: "jobs", Href: "/settings/jobs", Label: T(ctx, "nav.jobs")}}},
	}
	var out []navGroup
	for _, g := range all {
		var items []navItem
		for _, it := range g.Items {
			if CanOpen(ctx, it.Href) {
				items = append(items, it)
			}
		}
		if len(items) > 0 {
			out = append(out, navGroup{Title: g.Title, Items: items})
		}
	}
	return out
}
