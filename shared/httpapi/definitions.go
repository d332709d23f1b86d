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

func (a *API) createDefinition(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var d credbatch.Definition
	if err := a.decode(w, r, &d); err != nil {
		return err
	}
	saved, err := a.d.Catalogue.Create(r.Context(), p, d)
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
	saved, err := a.d.Catalogue.Update(r.Context(), p, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, saved)
	return nil
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
