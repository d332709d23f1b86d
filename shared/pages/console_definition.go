package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/catalogue"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/mail"
)

// defFormView is the definition form: a new definition, or a new version of one.
type defFormView struct {
	Nav      nav
	Error    string
	New      bool
	Admin    bool // may change the policy fields
	Def      credbatch.Definition
	Attrs    []attrForm
	Types    []credbatch.AttrType
	Expiries []credbatch.ExpiryPolicy
	Dups     []credbatch.DuplicatePolicy
	Preview  *emailPreview
	Action   string
}

// attrForm is one attribute's row of the form, as typed.
type attrForm struct {
	N                                                  int
	Name, Type, Description, Min, Max, MaxLen, Choices string
	Required                                           bool
}

type emailPreview struct{ Subject, Text, HTML string }

var (
	attrTypes  = []credbatch.AttrType{credbatch.AttrText, credbatch.AttrNumber, credbatch.AttrDate, credbatch.AttrEmail, credbatch.AttrURL, credbatch.AttrChoice}
	expiries   = []credbatch.ExpiryPolicy{credbatch.ExpiryNone, credbatch.ExpiryOptional, credbatch.ExpiryRequired}
	dupsPolicy = []credbatch.DuplicatePolicy{credbatch.DuplicatesReject, credbatch.DuplicatesAllow, credbatch.DuplicatesReplace}
)

// newDefinitionForm serves GET /catalogue/new.
func (h *handler) newDefinitionForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	d := strictDefinition()
	h.showDefinitionForm(w, r, http.StatusOK, s, d, formAttrs(d, 1), true, "", nil)
}

// editDefinitionForm serves GET /catalogue/{id}/edit: the latest version, to save as the next.
func (h *handler) editDefinitionForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	d, err := h.d.Store.GetDefinition(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.showDefinitionForm(w, r, http.StatusOK, s, d, formAttrs(d, 0), false, "", nil)
}

// strictDefinition is a new definition's starting point: the strictest policy, which is
// also all a definition created without the admin role may have.
func strictDefinition() credbatch.Definition {
	return credbatch.Definition{Expiry: credbatch.Expiry{Policy: credbatch.ExpiryNone}, ApprovalRequired: true, FourEyes: true,
		Duplicates: credbatch.DuplicatesReject}
}

// formAttrs are a definition's attributes as form rows, with extra empty rows.
func formAttrs(d credbatch.Definition, extra int) []attrForm {
	var out []attrForm
	for i, a := range d.Attributes {
		af := attrForm{N: i, Name: a.Name, Type: string(a.Type), Description: a.Description, Required: a.Required,
			Choices: strings.Join(a.Choices, ", ")}
		if a.Min != nil {
			af.Min = strconv.FormatFloat(*a.Min, 'f', -1, 64)
		}
		if a.Max != nil {
			af.Max = strconv.FormatFloat(*a.Max, 'f', -1, 64)
		}
		if a.MaxLength > 0 {
			af.MaxLen = strconv.Itoa(a.MaxLength)
		}
		out = append(out, af)
	}
	for range extra {
		out = append(out, attrForm{N: len(out), Type: string(credbatch.AttrText)})
	}
	return out
}

func (h *handler) showDefinitionForm(w http.ResponseWriter, r *http.Request, status int, s caller, d credbatch.Definition, attrs []attrForm, isNew bool, errText string, preview *emailPreview) {
	v := defFormView{Nav: navFor(s, "catalogue"), Error: errText, New: isNew, Admin: s.Principal.Has(auth.RoleAdmin), Def: d, Attrs: attrs,
		Types: attrTypes, Expiries: expiries, Dups: dupsPolicy, Action: "/catalogue/new", Preview: preview}
	if !isNew {
		v.Action = "/catalogue/" + url.PathEscape(d.ID)
	}
	title := "New definition"
	if !isNew {
		title = "Edit " + d.Name
	}
	h.render(w, r, status, "definition_form", page{Title: title + " · credbatch", Noindex: true, V: v})
}

// definitionFromForm reads the form over base (the latest version, or the strict starting
// point for a new one). The policy fields are read only for an administrator: anyone else
// keeps base's, and catalogue.Service refuses a change they try anyway.
func definitionFromForm(f url.Values, base credbatch.Definition, admin bool) (credbatch.Definition, []attrForm, error) {
	d := base
	if d.Version == 0 {
		d.ID = strings.TrimSpace(f.Get("id"))
	}
	d.Name, d.Description, d.Criteria, d.Image = f.Get("name"), f.Get("description"), f.Get("criteria"), strings.TrimSpace(f.Get("image"))
	d.Expiry = credbatch.Expiry{Policy: credbatch.ExpiryPolicy(f.Get("expiry_policy")), Default: strings.TrimSpace(f.Get("expiry_default"))}
	d.Email = credbatch.EmailTemplates{Subject: f.Get("email_subject"), Text: f.Get("email_text"), HTML: f.Get("email_html")}
	if admin {
		d.ApprovalRequired, d.FourEyes = f.Get("approval_required") != "", f.Get("four_eyes") != ""
	}
	if v := f.Get("duplicates"); v != "" {
		d.Duplicates = credbatch.DuplicatePolicy(v)
	}
	count, _ := strconv.Atoi(f.Get("attr_count"))
	count = max(0, min(count, 100))
	var rows []attrForm
	var problems []string
	d.Attributes = nil
	for i := range count {
		p := "attr-" + strconv.Itoa(i) + "-"
		af := attrForm{N: i, Name: strings.TrimSpace(f.Get(p + "name")), Type: f.Get(p + "type"), Description: f.Get(p + "description"),
			Min: strings.TrimSpace(f.Get(p + "min")), Max: strings.TrimSpace(f.Get(p + "max")), MaxLen: strings.TrimSpace(f.Get(p + "maxlen")),
			Choices: f.Get(p + "choices"), Required: f.Get(p+"required") != ""}
		rows = append(rows, af)
		if af.Name == "" {
			continue // an empty row adds nothing
		}
		a := credbatch.Attribute{Name: af.Name, Type: credbatch.AttrType(af.Type), Description: af.Description, Required: af.Required}
		for _, n := range []struct {
			text string
			to   **float64
			what string
		}{{af.Min, &a.Min, "smallest value"}, {af.Max, &a.Max, "largest value"}} {
			if n.text == "" {
				continue
			}
			x, err := strconv.ParseFloat(n.text, 64)
			if err != nil {
				problems = append(problems, fmt.Sprintf("attribute %q: the %s %q is not a number", af.Name, n.what, n.text))
				continue
			}
			*n.to = &x
		}
		if af.MaxLen != "" {
			if n, err := strconv.Atoi(af.MaxLen); err != nil || n < 1 {
				problems = append(problems, fmt.Sprintf("attribute %q: the longest length %q is not a positive whole number", af.Name, af.MaxLen))
			} else {
				a.MaxLength = n
			}
		}
		for _, c := range strings.Split(af.Choices, ",") {
			if c = strings.TrimSpace(c); c != "" {
				a.Choices = append(a.Choices, c)
			}
		}
		d.Attributes = append(d.Attributes, a)
	}
	if len(problems) > 0 {
		return d, rows, credbatch.E(credbatch.KindInvalid, "invalid_definition", strings.Join(problems, "; "))
	}
	return d, rows, nil
}

// saveDefinition serves POST /catalogue/new and POST /catalogue/{id}: "add an attribute" and
// "preview the email" redraw the form; "save" stores a new definition or the next version
// through catalogue.Service, as PUT /api/definitions/{id} does.
func (h *handler) saveDefinition(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	s, ok := h.requireRole(w, r, issuerRole...)
	if !ok {
		return
	}
	ctx := r.Context()
	f := r.PostForm
	id := r.PathValue("id")
	isNew := id == ""
	base := strictDefinition()
	if !isNew {
		cur, err := h.d.Store.GetDefinition(ctx, id, 0)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		base = cur
		// The version the form was drawn from: a newer one saved meanwhile is a conflict.
		if v, err := strconv.Atoi(f.Get("version")); err == nil {
			base.Version = v
		}
	}
	d, rows, err := definitionFromForm(f, base, s.Principal.Has(auth.RoleAdmin))
	switch {
	case err != nil:
	case f.Get("add_attribute") != "":
		rows = append(rows, attrForm{N: len(rows), Type: string(credbatch.AttrText)})
		h.showDefinitionForm(w, r, http.StatusOK, s, d, rows, isNew, "", nil)
		return
	case f.Get("preview") != "":
		data := mail.SampleData(catalogue.AttributeNames(d)...)
		if d.Name != "" {
			data.CredentialName = d.Name
		}
		subject, text, html, perr := mail.Render(d.Email, data)
		if perr != nil {
			err = perr
			break
		}
		h.showDefinitionForm(w, r, http.StatusOK, s, d, rows, isNew, "", &emailPreview{Subject: subject, Text: text, HTML: html})
		return
	case isNew:
		d, err = h.d.Catalogue.Create(ctx, s.Principal, d)
	default:
		d, err = h.d.Catalogue.Update(ctx, s.Principal, d)
	}
	if err != nil {
		status := httpapi.StatusOf(err)
		if status >= 500 {
			h.fail(w, r, err)
			return
		}
		h.showDefinitionForm(w, r, status, s, d, rows, isNew, credbatch.ErrorMessage(err), nil)
		return
	}
	http.Redirect(w, r, "/catalogue/"+url.PathEscape(d.ID)+"?done=definition-saved", http.StatusSeeOther)
}
