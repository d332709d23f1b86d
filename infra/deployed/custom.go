package deployed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/cfn"
)

// CustomResource is a custom resource of the stack (Custom::...), waiting in moto for the
// response of its function: moto's CloudFormation would run the function in docker, so the
// harness sends the request instead.
type CustomResource struct {
	ResourceType       string
	ResourceProperties map[string]any // resolved, ServiceToken included
	PhysicalResourceId string         // moto's
}

// responses is the ResponseURL the functions answer: a presigned S3 URL on AWS, a loopback
// server here that keeps each response by request id.
type responses struct {
	mu  sync.Mutex
	got map[string][]byte
}

func (r *responses) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPut {
		http.Error(w, "CloudFormation's response URL takes a PUT", http.StatusMethodNotAllowed)
		return
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got[strings.TrimPrefix(req.URL.Path, "/")] = b
	r.mu.Unlock()
}

// CustomResource sends a custom-resource request (RequestType Create, Update or Delete) to
// the function its ServiceToken names, as CloudFormation does (an asynchronous invocation,
// with a response URL), and returns the response the function PUT there. A FAILED response
// is returned with an error giving its reason.
func (h *Harness) CustomResource(ctx context.Context, logicalID string, requestType cfn.RequestType) (cfn.Response, error) {
	return h.customRequest(ctx, logicalID, requestType, nil)
}

// UpdateCustomResource sends the Update request a stack update that changes the resource's
// properties makes: ResourceProperties with changed set over the current ones,
// OldResourceProperties the current ones. After a SUCCESS response the new properties are the
// current ones.
func (h *Harness) UpdateCustomResource(ctx context.Context, logicalID string, changed map[string]any) (cfn.Response, error) {
	return h.customRequest(ctx, logicalID, cfn.RequestUpdate, changed)
}

func (h *Harness) customRequest(ctx context.Context, logicalID string, requestType cfn.RequestType, changed map[string]any) (cfn.Response, error) {
	cr, ok := h.Deploy.CustomResources[logicalID]
	if !ok {
		return cfn.Response{}, fmt.Errorf("no custom resource %s in the stack", logicalID)
	}
	props := cr.ResourceProperties
	if changed != nil {
		props = map[string]any{}
		for k, v := range cr.ResourceProperties {
			props[k] = v
		}
		for k, v := range changed {
			props[k] = v
		}
	}
	token, _ := cr.ResourceProperties["ServiceToken"].(string)
	fn, ok := h.Deploy.FunctionByArn(token)
	if !ok {
		return cfn.Response{}, fmt.Errorf("custom resource %s: ServiceToken %q is no function of the stack", logicalID, token)
	}
	var rb [16]byte
	_, _ = rand.Read(rb[:])
	reqID := hex.EncodeToString(rb[:])
	ev := cfn.Event{RequestType: requestType, RequestID: reqID, ResponseURL: h.responsesURL + "/" + reqID,
		ResourceType: cr.ResourceType, LogicalResourceID: logicalID, StackID: h.Deploy.StackId,
		ResourceProperties: props}
	if requestType != cfn.RequestCreate {
		ev.PhysicalResourceID = h.customIDs[logicalID]
	}
	if requestType == cfn.RequestUpdate {
		ev.OldResourceProperties = cr.ResourceProperties
	}
	payload, _ := json.Marshal(ev)
	if err := h.Runner.InvokeAsync(ctx, fn, payload); err != nil {
		return cfn.Response{}, fmt.Errorf("custom resource %s: %s: %w", logicalID, fn, err)
	}
	h.responses.mu.Lock()
	body, ok := h.responses.got[reqID]
	h.responses.mu.Unlock()
	if !ok {
		return cfn.Response{}, fmt.Errorf("custom resource %s: %s returned without answering the response URL", logicalID, fn)
	}
	var resp cfn.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return resp, fmt.Errorf("custom resource %s: the response is not JSON: %w", logicalID, err)
	}
	if resp.RequestID != reqID || resp.LogicalResourceID != logicalID || resp.StackID != h.Deploy.StackId || resp.PhysicalResourceID == "" {
		return resp, fmt.Errorf("custom resource %s: response %s does not answer the request (request id, logical id, stack id, a physical id)", logicalID, body)
	}
	if resp.Status != cfn.StatusSuccess {
		return resp, fmt.Errorf("custom resource %s: %s: %s", logicalID, resp.Status, resp.Reason)
	}
	h.customIDs[logicalID] = resp.PhysicalResourceID
	cr.ResourceProperties = props
	h.Deploy.CustomResources[logicalID] = cr
	if requestType == cfn.RequestCreate {
		// moto's stack completes once every custom resource has answered.
		u := fmt.Sprintf("%s/cloudformation_%s/cfnresponse?stack=%s", h.motoURL, h.Deploy.Region, url.QueryEscape(h.Deploy.StackId))
		if err := put(ctx, u, body); err != nil {
			return resp, fmt.Errorf("custom resource %s: answer moto: %w", logicalID, err)
		}
	}
	return resp, nil
}

// createCustomResources sends each custom resource's Create request and waits for moto to
// mark the stack CREATE_COMPLETE.
func (h *Harness) createCustomResources(ctx context.Context) error {
	h.responses = &responses{got: map[string][]byte{}}
	h.customIDs = map[string]string{}
	h.Custom = map[string]cfn.Response{}
	srv, u, err := serve(h.responses)
	if err != nil {
		return err
	}
	h.servers = append(h.servers, srv)
	h.responsesURL = u
	ids := make([]string, 0, len(h.Deploy.CustomResources))
	for id := range h.Deploy.CustomResources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		resp, err := h.CustomResource(ctx, id, cfn.RequestCreate)
		if err != nil {
			return err
		}
		h.Custom[id] = resp
	}
	status, err := stackStatus(ctx, h.motoURL, h.Deploy.Region, h.Deploy.StackName)
	if err != nil {
		return err
	}
	if status != "CREATE_COMPLETE" {
		return fmt.Errorf("stack %s is %s after its custom resources answered", h.Deploy.StackName, status)
	}
	h.Deploy.Status = status
	return nil
}

func put(ctx context.Context, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT %s: %s %s", u, resp.Status, b)
	}
	return nil
}

var stackStatusXML = regexp.MustCompile(`<StackStatus>([A-Z_]+)</StackStatus>`)

// stackStatus asks moto's CloudFormation (query API) for the stack's status.
func stackStatus(ctx context.Context, motoURL, region, stack string) (string, error) {
	form := url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {stack}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, motoURL+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// moto routes by the credential scope's service; it checks no signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/"+region+"/cloudformation/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := stackStatusXML.FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		return "", fmt.Errorf("DescribeStacks %s: %s %s", stack, resp.Status, b)
	}
	return string(m[1]), nil
}
