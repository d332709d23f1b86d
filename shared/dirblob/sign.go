package dirblob

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Presigned URLs are signed as S3 signs them: AWS Signature Version 4 in the query string
// (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature), made with the
// AWS SDK's signer over a secret only the local server knows. The method, the key, the expiry,
// the content type and every x-amz-meta-* header are inside the signature, so a URL made for
// one upload cannot carry other metadata (another uploader), another key or another method.
const (
	signAccessKey = "credbatch-local"
	signRegion    = "local"
	signService   = "s3"
	// unsignedPayload is what S3 presigned URLs sign instead of the body's hash.
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxPresignTTL is the longest lifetime of a presigned URL, as on S3.
	MaxPresignTTL = 7 * 24 * time.Hour
	// clockSkew is how far in the future a signing time may be.
	clockSkew = 5 * time.Minute
)

const amzDate = "20060102T150405Z"

type signing struct {
	creds  aws.Credentials
	now    func() time.Time
	signer *v4.Signer
}

// WithSigning makes PresignGet and PresignPut(Metadata) return SigV4-signed URLs (with the
// base URL of WithBaseURL) made with secret, and Verify check them; now is the clock
// (default time.Now). Without it the URLs carry no signature and Verify refuses everything.
func WithSigning(secret string, now func() time.Time) Option {
	return func(s *Store) {
		if now == nil {
			now = time.Now
		}
		s.sign = &signing{creds: aws.Credentials{AccessKeyID: signAccessKey, SecretAccessKey: secret},
			now: now, signer: v4.NewSigner()}
	}
}

// PresignPutMetadata returns a URL that uploads to the key with the content type and user
// metadata until ttl passes; the upload must send exactly those Content-Type and
// x-amz-meta-* headers, and a body of exactly size bytes when size > 0 (Content-Length is
// signed, as S3 signs it). Errors: KindInvalid.
func (s *Store) PresignPutMetadata(ctx context.Context, key, contentType string, metadata map[string]string, size int64, ttl time.Duration) (string, error) {
	h := http.Header{}
	if size > 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for k, v := range metadata {
		h.Set("X-Amz-Meta-"+k, v)
	}
	return s.presign(ctx, http.MethodPut, key, h, ttl)
}

func (s *Store) presign(ctx context.Context, method, key string, h http.Header, ttl time.Duration) (string, error) {
	u, err := s.url(key, ttl)
	if err != nil || s.sign == nil || s.baseURL == "" {
		return u, err
	}
	if ttl > MaxPresignTTL {
		return "", credbatch.E(credbatch.KindInvalid, "invalid_ttl", fmt.Sprintf("a presigned URL lives at most %s", MaxPresignTTL))
	}
	signed, err := s.signURL(ctx, method, u, h, int64(ttl/time.Second), s.sign.now().UTC())
	if err != nil {
		return "", internal("dirblob.presign", err)
	}
	return signed, nil
}

// signURL presigns the URL for the method and headers, as of t.
func (s *Store) signURL(ctx context.Context, method, u string, h http.Header, expires int64, t time.Time) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return "", err
	}
	req.Header = h.Clone()
	if n := req.Header.Get("Content-Length"); n != "" { // the signer signs req.ContentLength
		req.Header.Del("Content-Length")
		if req.ContentLength, err = strconv.ParseInt(n, 10, 64); err != nil {
			return "", err
		}
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.FormatInt(expires, 10))
	req.URL.RawQuery = q.Encode()
	signed, _, err := s.sign.signer.PresignHTTP(ctx, s.sign.creds, req, unsignedPayload, signService, signRegion, t,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	return signed, err
}

// Verify checks that r, a request for key, was made with a URL this store presigned (for
// r's method), before it expired, and sends no Content-Type or x-amz-* header that the
// signature does not cover (S3 refuses unsigned x-amz-* headers too). It returns the signed
// user metadata (lower-case keys, without x-amz-meta-). Errors: KindForbidden, saying why.
func (s *Store) Verify(r *http.Request, key string) (map[string]string, error) {
	deny := func(why string) (map[string]string, error) {
		return nil, credbatch.E(credbatch.KindForbidden, "access_denied", "request refused: "+why)
	}
	if s.sign == nil || s.baseURL == "" {
		return deny("this bucket serves signed URLs only, and none can be made")
	}
	q := r.URL.Query()
	sig := q.Get("X-Amz-Signature")
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || sig == "" {
		return deny("the URL is not presigned; ask the API for an upload or download URL")
	}
	if !strings.HasPrefix(q.Get("X-Amz-Credential"), signAccessKey+"/") {
		return deny("the URL was not signed by this server")
	}
	t, err := time.Parse(amzDate, q.Get("X-Amz-Date"))
	if err != nil {
		return deny("X-Amz-Date is missing or malformed")
	}
	expires, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || expires < 1 || expires > int64(MaxPresignTTL/time.Second) {
		return deny("X-Amz-Expires is missing or out of range")
	}
	now := s.sign.now().UTC()
	if t.After(now.Add(clockSkew)) {
		return deny("the URL is signed for a time in the future")
	}
	if !now.Before(t.Add(time.Duration(expires) * time.Second)) {
		return deny("the URL has expired; ask the API for a new one")
	}
	signedHeaders := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	h := http.Header{}
	if slices.Contains(signedHeaders, "content-length") {
		if r.ContentLength < 0 {
			return deny("the URL is signed for a body of a given length; send it with Content-Length")
		}
		h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	for name, vs := range r.Header {
		lower := strings.ToLower(name)
		covered := slices.Contains(signedHeaders, lower)
		if !covered && (lower == "content-type" || strings.HasPrefix(lower, "x-amz-")) {
			return deny(fmt.Sprintf("there were headers present in the request which were not signed: %s", lower))
		}
		if covered && lower != "host" && lower != "content-length" {
			h[name] = vs
		}
	}
	u, err := s.url(key, time.Second)
	if err != nil {
		return deny("the key is not allowed")
	}
	want, err := s.signURL(r.Context(), r.Method, u, h, expires, t)
	if err != nil {
		return nil, internal("dirblob.verify", err)
	}
	wu, err := url.Parse(want)
	if err != nil {
		return nil, internal("dirblob.verify", err)
	}
	wq := wu.Query()
	if wq.Get("X-Amz-SignedHeaders") != q.Get("X-Amz-SignedHeaders") ||
		subtle.ConstantTimeCompare([]byte(wq.Get("X-Amz-Signature")), []byte(sig)) != 1 {
		return deny("the signature does not match (the URL, method or signed headers were changed)")
	}
	meta := map[string]string{}
	for name, vs := range h {
		if m, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-meta-"); ok && len(vs) > 0 {
			meta[m] = vs[0]
		}
	}
	return meta, nil
}
