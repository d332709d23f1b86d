package httpapi

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/validate"
	"github.com/credbatch/credbatch/shared/workbook"
)

func (a *API) listDefinitions(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	archived := r.URL.Query().Get("archived") == "true"
	list, err := a.d.Store.ListDefinitions(r.Context(), archived)
	if err != nil {
		return fmt.Errorf("list definitions: %w", err)
	}
	if list == nil {
		list = []credbatch.Definition{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
	return nil
}

// checkDefinition normalises and validates a definition and its email templates.
func checkDefinition(d *credbatch.Definition) error {
	d.Normalize()
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Issuer != nil && d.Issuer.Email != "" {
		if p := validate.EmailProblem(d.Issuer.Email); p != "" {
			return credbatch.E(credbatch.KindInvalid, "invalid_definition",
				fmt.Sprintf("definition %q: issuer.email %q %s; use the form name@example.org", d.ID, d.Issuer.Email, p))
		}
	}
	names := make([]string, len(d.Attributes))
	for i, at := range d.Attributes {
		names[i] = at.Name
	}
	return mail.Check(d.Email, names...)
}

func (a *API) createDefinition(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var d credbatch.Definition
	if err := a.decode(w, r, &d); err != nil {
		return err
	}
	if d.Version != 0 {
		return credbatch.E(credbatch.KindInvalid, "invalid_definition", "a new definition has no version; use PUT /api/definitions/{id} to change one")
	}
	d.Archived = false
	if err := checkDefinition(&d); err != nil {
		return err
	}
	if _, err := a.d.Store.GetDefinition(r.Context(), d.ID, 0); err == nil {
		return credbatch.E(credbatch.KindConflict, "definition_exists",
			fmt.Sprintf("definition %q exists; change it with PUT /api/definitions/%s", d.ID, d.ID))
	} else if !credbatch.IsKind(err, credbatch.KindNotFound) {
		return fmt.Errorf("load definition %s: %w", d.ID, err)
	}
	saved, err := a.putDefinition(r, p, nil, d)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/definitions/"+saved.ID)
	writeJSON(w, http.StatusCreated, saved)
	return nil
}

func (a *API) getDefinition(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return credbatch.E(credbatch.KindInvalid, "invalid_version", "version must be a positive whole number")
		}
		version = n
	}
	d, err := a.d.Store.GetDefinition(r.Context(), r.PathValue("id"), version)
	if err != nil {
		return fmt.Errorf("load definition %s: %w", r.PathValue("id"), err)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// updateDefinition stores a new version; the body's version must be the latest (optimistic).
// Policy fields (credbatch.PolicyFields) change only with the admin role.
func (a *API) updateDefinition(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	var d credbatch.Definition
	if err := a.decode(w, r, &d); err != nil {
		return err
	}
	if d.ID == "" {
		d.ID = id
	}
	if d.ID != id {
		return credbatch.E(credbatch.KindInvalid, "invalid_definition", fmt.Sprintf("the body's id %q is not the path's %q", d.ID, id))
	}
	if d.Version < 1 {
		return credbatch.E(credbatch.KindInvalid, "missing_version",
			"send the version you changed (the latest), so that a concurrent change is not overwritten")
	}
	if err := checkDefinition(&d); err != nil {
		return err
	}
	cur, err := a.d.Store.GetDefinition(r.Context(), id, 0)
	if err != nil {
		return fmt.Errorf("load definition %s: %w", id, err)
	}
	saved, err := a.putDefinition(r, p, &cur, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, saved)
	return nil
}

// putDefinition stores d over cur (nil: a new definition) when the principal may make its
// policy changes, with their audit entry in the same write.
func (a *API) putDefinition(r *http.Request, p auth.Principal, cur *credbatch.Definition, d credbatch.Definition) (credbatch.Definition, error) {
	entry, err := credbatch.PolicyAudit(cur, d, p.Name(), p.Has(auth.RoleAdmin))
	if err != nil {
		return d, err
	}
	var audit []credbatch.AuditEntry
	if entry != nil {
		entry.ID = a.d.IDs()
		audit = append(audit, *entry)
	}
	saved, err := a.d.Store.PutDefinition(r.Context(), d, audit...)
	if err != nil {
		return d, fmt.Errorf("store definition %s: %w", d.ID, err)
	}
	if entry != nil {
		a.d.Log.InfoContext(r.Context(), "definition policy changed", "definition", d.ID, "version", saved.Version, "by", p.Subject)
	}
	return saved, nil
}

// listAudit serves the audit trail (admins only), newest first.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := a.d.Store.ListAudit(r.Context(), cursor, limit)
	if err != nil {
		return fmt.Errorf("list audit: %w", err)
	}
	if page.Items == nil {
		page.Items = []credbatch.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// archiveDefinition stores a new, archived version: batches keep the versions they used.
func (a *API) archiveDefinition(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	id := r.PathValue("id")
	d, err := a.d.Store.GetDefinition(r.Context(), id, 0)
	if err != nil {
		return fmt.Errorf("load definition %s: %w", id, err)
	}
	if d.Archived {
		writeJSON(w, http.StatusOK, d)
		return nil
	}
	d.Archived = true
	saved, err := a.d.Store.PutDefinition(r.Context(), d)
	if err != nil {
		return fmt.Errorf("archive definition %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, saved)
	return nil
}

func (a *API) definitionTemplate(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	d, err := a.d.Store.GetDefinition(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		return fmt.Errorf("load definition %s: %w", r.PathValue("id"), err)
	}
	return writeTemplate(w, r, []credbatch.Definition{d}, d.ID)
}

func (a *API) combinedTemplate(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ids := strings.Split(r.URL.Query().Get("ids"), ",")
	var defs []credbatch.Definition
	seen := map[string]bool{}
	for _, id := range ids {
		id = trim(id)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		d, err := a.d.Store.GetDefinition(r.Context(), id, 0)
		if err != nil {
			return fmt.Errorf("load definition %s: %w", id, err)
		}
		defs = append(defs, d)
	}
	if len(defs) == 0 {
		return credbatch.E(credbatch.KindInvalid, "missing_ids", "name the definitions: ?ids=first,second")
	}
	name := "credbatch-template"
	if len(defs) == 1 {
		name = defs[0].ID
	}
	return writeTemplate(w, r, defs, name)
}

// writeTemplate answers with the .xlsx (default) or .csv template of the definitions.
func writeTemplate(w http.ResponseWriter, r *http.Request, defs []credbatch.Definition, name string) error {
	var buf bytes.Buffer
	var ctype string
	switch format := r.URL.Query().Get("format"); format {
	case "", "xlsx":
		if err := workbook.TemplateXLSX(&buf, defs); err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		ctype, name = ingest.ContentTypeXLSX, name+".xlsx"
	case "csv":
		if err := workbook.TemplateCSV(&buf, defs); err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		ctype, name = "text/csv; charset=utf-8", name+".csv"
	default:
		return credbatch.E(credbatch.KindInvalid, "invalid_format", fmt.Sprintf("format %q: use xlsx or csv", format))
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing left to tell it
	return nil
}
