package deployed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Gateway is the stack's HTTP API on a loopback listener: it matches a request against the
// routes of the API's OpenAPI body (the most specific path first), runs the route's JWT
// authorizer (issuer and audience from the body's jwtConfiguration; the signature against
// the identity provider's key, which here is the harness's own IdP), and invokes the
// integration's function with the API Gateway HTTP API payload 2.0 event: the validated
// claims for a route with the authorizer, no authorizer context for a public one.
type Gateway struct {
	API    HTTPAPI
	Deploy *Deployment
	Runner *Runner
	IdP    *IdP

	mu      sync.Mutex
	counts  map[string]int // by route key
	reqSeq  int
	unauthd int
}

// IdP is the OpenID provider's part: it signs the test users' tokens and, once served,
// publishes its discovery document and key set over HTTPS, as the api function's console
// sign-in fetches them from the stack's AuthIssuer.
type IdP struct {
	URL    string // the issuer, https://127.0.0.1:<port> once served
	key    *ecdsa.PrivateKey
	signer jose.Signer
	srv    *httptest.Server
}

// Serve publishes /.well-known/openid-configuration and the key set on a loopback TLS
// listener and writes its certificate (PEM) to caFile, for the functions' SSL_CERT_FILE.
func (p *IdP) Serve(caFile string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"issuer": p.URL, "jwks_uri": p.URL + "/.well-known/jwks.json",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "harness", Algorithm: "ES256", Use: "sig"}}})
	})
	p.srv = httptest.NewTLSServer(mux)
	p.URL = p.srv.URL
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	return os.WriteFile(caFile, pemBytes, 0o644)
}

// Close stops the listener.
func (p *IdP) Close() {
	if p.srv != nil {
		p.srv.Close()
	}
}

// NewIdP makes an identity provider with a fresh ES256 key.
func NewIdP() (*IdP, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "harness"))
	if err != nil {
		return nil, err
	}
	return &IdP{key: k, signer: s}, nil
}

// Token issues a token from issuer for audience with the claims (sub, email, roles ...).
func (p *IdP) Token(issuer, audience string, claims map[string]any, ttl time.Duration) (string, error) {
	now := time.Now()
	std := jwt.Claims{Issuer: issuer, Audience: jwt.Audience{audience}, IssuedAt: jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(ttl))}
	if s, ok := claims["sub"].(string); ok {
		std.Subject = s
	}
	return jwt.Signed(p.signer).Claims(std).Claims(claims).Serialize()
}

type route struct {
	method     string // "ANY" or an upper-case method
	path       string
	authorizer string // security scheme name, "" for none
	function   string // logical id
}

func (g *Gateway) routes() ([]route, error) {
	var out []route
	for path, methods := range g.API.Body.Paths {
		for method, op := range methods {
			var m string
			switch method {
			case "x-amazon-apigateway-any-method":
				m = "ANY"
			case "get", "put", "post", "delete", "patch", "head", "options":
				m = strings.ToUpper(method)
			default:
				return nil, fmt.Errorf("route %s %s: not a method", method, path)
			}
			if op.Integration.Type != "aws_proxy" || op.Integration.PayloadFormatVersion != "2.0" {
				return nil, fmt.Errorf("route %s: integration %s %s is not a Lambda proxy with payload 2.0", path, op.Integration.Type, op.Integration.PayloadFormatVersion)
			}
			// arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations
			arn, _ := strings.CutPrefix(op.Integration.URI[strings.Index(op.Integration.URI, "/functions/")+len("/functions/"):], "")
			arn = strings.TrimSuffix(arn, "/invocations")
			fn, ok := g.Deploy.FunctionByArn(arn)
			if !ok {
				return nil, fmt.Errorf("route %s integrates %s, which is no function of the stack", path, arn)
			}
			r := route{method: m, path: path, function: fn}
			for _, sec := range op.Security {
				for name := range sec {
					if name != "NONE" {
						r.authorizer = name
					}
				}
			}
			out = append(out, r)
		}
	}
	// API Gateway picks the most specific route: a full match before a greedy one, longer
	// fixed prefixes first, and for one path a route with the method before ANY.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ga, gb := strings.HasSuffix(a.path, "+}"), strings.HasSuffix(b.path, "+}"); ga != gb {
			return gb
		}
		if la, lb := len(fixedPrefix(a.path)), len(fixedPrefix(b.path)); la != lb {
			return la > lb
		}
		if (a.method == "ANY") != (b.method == "ANY") {
			return b.method == "ANY"
		}
		return a.path+a.method < b.path+b.method
	})
	return out, nil
}

func fixedPrefix(p string) string {
	if i := strings.Index(p, "{"); i >= 0 {
		return p[:i]
	}
	return p
}

// match reports whether the route takes the request, with its path parameters: a {name}
// segment takes one non-empty segment, a final {proxy+} the non-empty rest.
func (r route) match(method, path string) (map[string]string, bool) {
	if r.method != "ANY" && r.method != method {
		return nil, false
	}
	tpl, got := strings.Split(r.path, "/"), strings.Split(path, "/")
	params := map[string]string{}
	for i, seg := range tpl {
		if i == len(tpl)-1 && strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}") {
			rest := strings.Join(got[min(i, len(got)):], "/")
			if rest == "" {
				return nil, false
			}
			params[strings.Trim(seg, "{+}")] = rest
			return params, true
		}
		if i >= len(got) {
			return nil, false
		}
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if got[i] == "" {
				return nil, false
			}
			params[strings.Trim(seg, "{}")] = got[i]
			continue
		}
		if seg != got[i] {
			return nil, false
		}
	}
	if len(got) != len(tpl) {
		return nil, false
	}
	if len(params) == 0 {
		params = nil
	}
	return params, true
}

// FunctionFor returns the logical id of the function the stack's API routes a request to
// (as ServeHTTP would, without invoking it), and whether the route has an authorizer; ""
// when no route matches.
func (g *Gateway) FunctionFor(method, path string) (function string, authorized bool, _ error) {
	rs, err := g.routes()
	if err != nil {
		return "", false, err
	}
	for _, r := range rs {
		if _, ok := r.match(method, path); ok {
			return r.function, r.authorizer != "", nil
		}
	}
	return "", false, nil
}

// Counts returns the requests served by route key, and those refused by an authorizer.
func (g *Gateway) Counts() (map[string]int, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for k, v := range g.counts {
		out[k] = v
	}
	return out, g.unauthd
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs, err := g.routes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var rt *route
	var params map[string]string
	for i := range rs {
		if p, ok := rs[i].match(r.Method, r.URL.Path); ok {
			rt, params = &rs[i], p
			break
		}
	}
	if rt == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	routeKey := rt.method + " " + rt.path
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, PathParameters: params,
	}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	// API Gateway's endpoint is HTTPS only and adds the forwarding headers.
	ev.Headers["x-forwarded-for"] = "127.0.0.1"
	ev.Headers["x-forwarded-port"] = "443"
	ev.Headers["x-forwarded-proto"] = "https"
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	g.mu.Lock()
	g.reqSeq++
	seq := g.reqSeq
	g.mu.Unlock()
	now := time.Now()
	ev.RequestContext = events.APIGatewayV2HTTPRequestContext{
		AccountID: g.Deploy.Account, APIID: g.API.Id, DomainName: r.Host, DomainPrefix: strings.Split(r.Host, ".")[0],
		Stage: "$default", RouteKey: routeKey, RequestID: fmt.Sprintf("harness-%06d", seq), Time: now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		TimeEpoch: now.UnixMilli(),
		HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: "127.0.0.1", UserAgent: r.UserAgent()},
	}
	if rt.authorizer != "" {
		claims, scopes, err := g.authorize(rt.authorizer, r)
		if err != nil {
			g.mu.Lock()
			g.unauthd++
			g.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes}}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20+1))
	if err != nil || len(body) > 10<<20 {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Request Entity Too Large"})
		return
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	payload, _ := json.Marshal(ev)
	g.mu.Lock()
	if g.counts == nil {
		g.counts = map[string]int{}
	}
	g.counts[routeKey]++
	g.mu.Unlock()
	out, err := g.Runner.Invoke(r.Context(), rt.function, payload)
	if err != nil {
		// API Gateway answers a failed integration with 500 Internal Server Error.
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode == 0 {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	b := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
			return
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
}

// authorize is the JWT authorizer: a bearer token from the identity source, signed by the
// IdP, with the configured issuer and one of the audiences, not expired. The claims are
// passed as API Gateway passes them: strings, arrays as "[a b]".
func (g *Gateway) authorize(scheme string, r *http.Request) (map[string]string, []string, error) {
	s, ok := g.API.Body.Components.SecuritySchemes[scheme]
	if !ok || s.Authorizer.Type != "jwt" {
		return nil, nil, fmt.Errorf("no JWT authorizer %s", scheme)
	}
	if s.Authorizer.IdentitySource != "$request.header.Authorization" {
		return nil, nil, fmt.Errorf("identity source %s is not served", s.Authorizer.IdentitySource)
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, nil, fmt.Errorf("no bearer token")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, nil, err
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(&g.IdP.key.PublicKey, &std, &all); err != nil {
		return nil, nil, err
	}
	cfg := s.Authorizer.JwtConfiguration
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: cfg.Issuer, AnyAudience: jwt.Audience(cfg.Audience), Time: time.Now()}, 0); err != nil {
		return nil, nil, err
	}
	claims := map[string]string{}
	for k, v := range all {
		switch x := v.(type) {
		case string:
			claims[k] = x
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			claims[k] = "[" + strings.Join(parts, " ") + "]"
		case float64:
			claims[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			claims[k] = fmt.Sprint(x)
		}
	}
	var scopes []string
	if sc := claims["scope"]; sc != "" {
		scopes = strings.Fields(sc)
	}
	return claims, scopes, nil
}

func textual(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "xml") ||
		strings.Contains(ct, "x-www-form-urlencoded") || strings.Contains(ct, "javascript")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
