package dynamo

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// longNarrative gives a credential's evidence a 700-character narrative (with a file).
func longNarrative(c *credbatch.Credential) {
	c.Evidence = &credbatch.Evidence{Narrative: "The candidate carried out the full casualty assessment on a simulated " +
		"workplace incident: scene safety check, primary survey, recovery position, and a two-minute cycle of CPR with " +
		"an AED trainer. The assessor noted a calm hand-over to the emergency services, a complete incident record and " +
		"correct use of the first-aid kit's contents. In the written part the candidate answered 27 of 30 questions, " +
		"including the scenarios on burns, suspected fractures and anaphylaxis. Re-assessment of the choking procedure " +
		"for infants was passed on the second attempt after coaching. Signed by the lead assessor and countersigned " +
		"by the course director on the last day of the course.",
		File: &credbatch.EvidenceFile{Name: "assessment.pdf", MediaType: "application/pdf", Key: "evidence/b1/2-00.pdf",
			Digest: "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"}}
}

// docCases are the documents the round trip tests store: sample credentials of every sample
// deployment (short, long and non-ASCII names, long attribute values, with and without
// expiry and evidence), one with a long evidence narrative, and values no signer makes.
func docCases(t *testing.T) []sampleDoc {
	t.Helper()
	var out []sampleDoc
	for dep := range sampleDeployments(t) {
		out = append(out, sampleDocs(t, dep, 12, "roundtrip")...)
	}
	out = append(out, sampleDocsWith(t, 0, 1, "long", longNarrative)...)
	sample := out[0].doc
	for _, c := range []sampleDoc{
		{"no VC-JWT", storedDoc{jwt: sample.jwt}},
		{"a compact JWT as the document (stored before JSON-LD)", storedDoc{jwt: "eyJhbGciOiJFZERTQSJ9.e30.sig"}},
		{"not base64url", storedDoc{jwt: sample.jwt, detached: "eyJh+bGc..sig/nature"}},
		{"non-canonical base64url (trailing bits)", storedDoc{jwt: sample.jwt, detached: "eyJhbGciOiJFUzI1NiJ9..AB"}},
		{"not detached", storedDoc{jwt: sample.jwt, detached: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}},
		{"three dots", storedDoc{jwt: sample.jwt, detached: "eyJhbGciOiJFUzI1NiJ9...c2ln"}},
		{"empty signature", storedDoc{jwt: sample.jwt, detached: "eyJhbGciOiJFUzI1NiJ9.."}},
		{"not UTF-8", storedDoc{jwt: "{\"name\":\"\xff\xfe\"}", detached: "\x00\x01"}},
		{"empty", storedDoc{}},
	} {
		out = append(out, c)
	}
	return out
}

// TestDoczRoundTrip checks that a document item gives back the exact document and VC-JWT
// it was made from, and that a reused compressor gives the same bytes as a new one.
func TestDoczRoundTrip(t *testing.T) {
	for _, c := range docCases(t) {
		v, err := encodeDocz(c.doc.jwt, c.doc.detached)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if again, err := encodeDocz(c.doc.jwt, c.doc.detached); err != nil || !bytes.Equal(again, v) {
			t.Errorf("%s: encoded again (a reused compressor) differs: %v", c.name, err)
		}
		got, ok, err := storedDocOf(map[string]types.AttributeValue{attrDocz1: &types.AttributeValueMemberB{Value: v}})
		if err != nil || !ok || got != c.doc {
			t.Errorf("%s: read back %v, %v:\n%q\n%q\nwant\n%q\n%q", c.name, ok, err, got.jwt, got.detached, c.doc.jwt, c.doc.detached)
		}
	}
	// What CreateCredential writes: the head points to the document item, which holds both.
	c := docCases(t)[0].doc
	head, doc, err := credItems(credbatch.Credential{ID: "c1", Email: "a@example.com", JWT: c.jwt, JWTDetached: c.detached})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := head[attrJWT]; ok || head[attrJWTDet] != nil || head[attrDocSK] == nil {
		t.Errorf("head %v: want no document or VC-JWT, and DocSK", keysOf(head))
	}
	if names := keysOf(doc); !slices.Equal(names, []string{attrDocz1, attrPK, attrSK}) {
		t.Errorf("document item attributes %v, want [Docz1 PK SK]", names)
	}
	if got, ok, err := storedDocOf(doc); err != nil || !ok || got != c {
		t.Errorf("document item reads %v, %v; want its document and VC-JWT", ok, err)
	}
}

func keysOf(item map[string]types.AttributeValue) []string {
	var out []string
	for k := range item {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// TestDocLegacyItems checks that the document items written before Docz1 read as they are:
// JWTgz (gzip) with or without JWTDetached beside it, and JWT (plain).
func TestDocLegacyItems(t *testing.T) {
	c := sampleDocs(t, 0, 1, "legacy")[0].doc
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want storedDoc
		ok   bool
	}{
		{"JWTgz and JWTDetached", map[string]types.AttributeValue{attrDocGz: &types.AttributeValueMemberB{Value: gz(t, []byte(c.jwt))},
			attrJWTDet: &types.AttributeValueMemberS{Value: c.detached}}, c, true},
		{"JWTgz alone", map[string]types.AttributeValue{attrDocGz: &types.AttributeValueMemberB{Value: gz(t, []byte(c.jwt))}},
			storedDoc{jwt: c.jwt}, true},
		{"JWT plain", map[string]types.AttributeValue{attrJWT: &types.AttributeValueMemberS{Value: c.jwt}}, storedDoc{jwt: c.jwt}, true},
		{"JWT plain and JWTDetached", map[string]types.AttributeValue{attrJWT: &types.AttributeValueMemberS{Value: c.jwt},
			attrJWTDet: &types.AttributeValueMemberS{Value: c.detached}}, c, true},
		{"no document", map[string]types.AttributeValue{attrPK: &types.AttributeValueMemberS{Value: "CRED#x"}}, storedDoc{}, false},
	}
	for _, tc := range tests {
		got, ok, err := storedDocOf(tc.item)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("%s: %v, %v, %d-byte document, VC-JWT %q; want %v and the stored ones", tc.name, ok, err, len(got.jwt), got.detached, tc.ok)
		}
	}
}

// TestDocCorrupt checks that a corrupt or hostile document item is an error: never a
// panic, never more than maxDocBytes decompressed.
func TestDocCorrupt(t *testing.T) {
	good, err := encodeDocz(`{"id":"x"}`, "eyJhbGciOiJFUzI1NiJ9..c2ln")
	if err != nil {
		t.Fatal(err)
	}
	deflated := func(p []byte) []byte {
		var z bytes.Buffer
		w, err := flate.NewWriterDict(&z, flate.BestSpeed, docDictV1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return z.Bytes()
	}
	bomb := make([]byte, 8<<20) // 8 MiB of zeros: 8 KB compressed
	tests := []struct {
		name string
		attr string
		v    []byte
		want string
	}{
		{"garbage", attrDocz1, []byte("not deflate at all"), "decompress"},
		{"truncated", attrDocz1, good[:len(good)/2], "decompress"},
		{"empty", attrDocz1, nil, "decompress"},
		{"Docz1 bomb", attrDocz1, deflated(bomb), "over 1048576 bytes"},
		{"JWTgz bomb", attrDocGz, gz(t, bomb), "over 1048576 bytes"},
		{"document longer than the value", attrDocz1, deflated([]byte{0x80, 0x01, 'x'}), "corrupt"},
		{"no length", attrDocz1, deflated([]byte{0x80}), "corrupt"},
		{"unknown VC-JWT form", attrDocz1, deflated([]byte{1, 'x', 7, 'y'}), "corrupt"},
		{"header longer than the value", attrDocz1, deflated([]byte{1, 'x', detachedDecoded, 9, 'y'}), "corrupt"},
		{"JWTgz garbage", attrDocGz, []byte("not gzip"), "decompress"},
	}
	for _, tc := range tests {
		_, _, err := storedDocOf(map[string]types.AttributeValue{tc.attr: &types.AttributeValueMemberB{Value: tc.v}})
		if !credbatch.IsKind(err, credbatch.KindInternal) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an internal error saying %q", tc.name, err, tc.want)
		}
	}
}

// itemBytes is an item's size as DynamoDB bills it: attribute names plus values (strings
// and binaries as their bytes, numbers as their digits, maps as their entries plus 3 bytes
// and 1 an entry, anything else 1 byte).
func itemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)
		case *types.AttributeValueMemberM:
			n += 3 + itemBytes(v.Value) + len(v.Value)
		default:
			n++
		}
	}
	return n
}

// gzipDocItem is the document item as written before Docz1 (JWTgz and JWTDetached).
func gzipDocItem(t *testing.T, c credbatch.Credential, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("CRED#" + c.ID), attrSK: str(sk),
		attrDocGz: &types.AttributeValueMemberB{Value: gz(t, []byte(c.JWT))}, attrJWTDet: str(c.JWTDetached)}
}

// sampleCredential is a credential holding a sample document, with an id of 32 hex digits
// like the issue function's.
func sampleCredential(i int, d storedDoc) credbatch.Credential {
	return credbatch.Credential{ID: fmt.Sprintf("%032x", i+1), Email: "r@example.com", JWT: d.jwt, JWTDetached: d.detached}
}

type sizeStats struct{ min, median, p90, max, over1K, n int }

func statsOf(sizes []int) sizeStats {
	s := slices.Clone(sizes)
	slices.Sort(s)
	st := sizeStats{min: s[0], median: s[len(s)/2], p90: s[len(s)*9/10], max: s[len(s)-1], n: len(s)}
	for _, v := range s {
		if v > 1024 {
			st.over1K++
		}
	}
	return st
}

func (s sizeStats) String() string {
	return fmt.Sprintf("min %d, median %d, p90 %d, max %d bytes; %d of %d over 1 KB", s.min, s.median, s.p90, s.max, s.over1K, s.n)
}

// TestDocItemSizes measures document items before (JWTgz and JWTDetached) and after (Docz1)
// for 60 credentials of each sample deployment: every one of deployment 0's (the local
// stack's sample definitions, the cost scenario's; the dictionary was made without them) and
// nine in ten of all fit in 1 KB, one write unit.
func TestDocItemSizes(t *testing.T) {
	var all []int
	for dep, d := range sampleDeployments(t) {
		var before, after []int
		for i, s := range sampleDocs(t, dep, 60, "sizes") {
			c := sampleCredential(i, s.doc)
			_, doc, err := credItems(c)
			if err != nil {
				t.Fatal(err)
			}
			after = append(after, itemBytes(doc))
			before = append(before, itemBytes(gzipDocItem(t, c, doc[attrSK].(*types.AttributeValueMemberS).Value)))
		}
		all = append(all, after...)
		st := statsOf(after)
		t.Logf("deployment %d (%s): before %v", dep, d.BaseURL, statsOf(before))
		t.Logf("deployment %d (%s): after  %v", dep, d.BaseURL, st)
		if dep == 0 && st.over1K > 0 {
			t.Errorf("deployment 0: %d document items over 1 KB, want none", st.over1K)
		}
	}
	if st := statsOf(all); st.p90 > 1024 {
		t.Errorf("all deployments: %v; want nine in ten within 1 KB", st)
	}
	long := sampleDocsWith(t, 0, 4, "long", longNarrative)
	var sizes []int
	for i, s := range long {
		_, doc, err := credItems(sampleCredential(i, s.doc))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, itemBytes(doc))
	}
	t.Logf("deployment 0 with a 700-character evidence narrative: %v", statsOf(sizes))
}

// TestDocPutWriteUnits stores sample credentials in DynamoDB Local and reads what it
// reports for the document item's put: 1 write unit for deployment 0's credentials (2 with
// gzip before), 2 with a 700-character evidence narrative. Each reads back byte for byte.
func TestDocPutWriteUnits(t *testing.T) {
	client := dynamodb.NewFromConfig(awstest.Config(t, "DYNAMODB"), func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	table := awstest.Name(t, "cb")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	put := func(item map[string]types.AttributeValue) float64 {
		t.Helper()
		out, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	s := New(client, table)
	check := func(name string, docs []sampleDoc, want, wantBefore float64) {
		t.Helper()
		for i, d := range docs {
			c := sampleCredential(i, d.doc)
			c.ID = fmt.Sprintf("%s%030x", name[:2], i)
			_, doc, err := credItems(c)
			if err != nil {
				t.Fatal(err)
			}
			sk := doc[attrSK].(*types.AttributeValueMemberS).Value
			if u := put(doc); u != want {
				t.Errorf("%s %d (%s, %d bytes): the document put wrote %.0f units, want %.0f", name, i, d.name, itemBytes(doc), u, want)
			}
			if u := put(gzipDocItem(t, c, sk+"gz")); u != wantBefore {
				t.Errorf("%s %d: the gzip document put wrote %.0f units, want %.0f", name, i, u, wantBefore)
			}
			if err := s.CreateCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetCredential(ctx, c.ID)
			if err != nil || got.JWT != c.JWT || got.JWTDetached != c.JWTDetached {
				t.Errorf("%s %d: read back %d-byte document, VC-JWT %q, %v; want the stored ones", name, i, len(got.JWT), got.JWTDetached, err)
			}
		}
	}
	check("typical", sampleDocs(t, 0, 12, "wru"), 1, 2)
	check("long narrative", sampleDocsWith(t, 0, 2, "wru-long", longNarrative), 2, 2)
}
