package unsubscribe

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Pattern is the ServeMux pattern of the handler.
const Pattern = Path + "{token}"

// Handler serves the links: POST unsubscribes (the one-click request a mail client sends with
// the body "List-Unsubscribe=One-Click", or the page's button), GET shows a page that asks
// first, so a link scanner that fetches every URL of an email unsubscribes nobody.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Pattern, s.ask)
	mux.HandleFunc("POST "+Pattern, s.confirm)
	return mux
}

type pageView struct {
	Title, Message string
	Ask            bool
	Action         string
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Ask}}<form method="post" action="{{.Action}}"><button type="submit">Unsubscribe</button></form>{{end}}
</main></body></html>
`))

func (s *Service) show(w http.ResponseWriter, status int, v pageView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = page.Execute(w, v)
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		s.show(w, http.StatusNotFound, pageView{Title: "Link not valid", Message: credbatch.ErrorMessage(err)})
		return
	}
	s.log().Error("unsubscribe", "err", err)
	s.show(w, http.StatusInternalServerError, pageView{Title: "Something went wrong", Message: "Please try again later."})
}

func (s *Service) ask(w http.ResponseWriter, r *http.Request) {
	l, err := s.Check(r.Context(), r.PathValue("token"))
	if err != nil {
		s.fail(w, err)
		return
	}
	s.show(w, http.StatusOK, pageView{Title: "Unsubscribe", Ask: true, Action: Path + r.PathValue("token"),
		Message: "Stop emailing " + l.Describe() + " to " + l.Address + "?"})
}

func (s *Service) confirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm() // the one-click body (List-Unsubscribe=One-Click) or the page's empty form
	l, err := s.Unsubscribe(r.Context(), r.PathValue("token"))
	if err != nil {
		s.fail(w, err)
		return
	}
	msg := "You will no longer get " + l.Describe() + " at " + l.Address + "."
	if strings.EqualFold(r.PostFormValue("List-Unsubscribe"), "One-Click") {
		msg = "Unsubscribed: " + msg
	}
	s.show(w, http.StatusOK, pageView{Title: "Unsubscribed", Message: msg})
}
