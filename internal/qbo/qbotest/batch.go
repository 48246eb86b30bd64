package qbotest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// Batch (qbo-api.md §8).
const (
	maxBatchItems     = 30
	maxBatchBIDLen    = 10
	maxBatchRequestID = 36
)

func batchTooLarge(n int) *fault {
	return &fault{Message: "Batch size exceeds allowed limit",
		Detail: "Batch size exceeds allowed limit. Max allowed: " + itoa(maxBatchItems) + ", supplied: " + itoa(n),
		Code:   "1040", Element: ""}
}

func tooLong(element string, maxLen, got int) *fault {
	return &fault{Message: "String length is either shorter or longer than supported by specification",
		Detail: "String length specified does not match the supported length. Min:1 Max:" + itoa(maxLen) + " supplied length:" + itoa(got),
		Code:   "2050", Element: element}
}

// handleBatch serves POST /batch. Items run serially, in order, through the
// same write path as single requests, with the realm locked for the whole
// batch. The response is HTTP 200 even when items fail.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request, realm *Realm) {
	if r.Method != http.MethodPost {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path)))
		return
	}
	reqID := r.URL.Query().Get("requestid")
	if len(reqID) > maxBatchRequestID {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, tooLong("requestid", maxBatchRequestID, len(reqID))))
		return
	}
	if !jsonContent(r) {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, cannotConsume()))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty(err.Error())))
		return
	}
	sig := requestSig(r.Method, "batch", "", nil)
	realm.mu.Lock()
	defer realm.mu.Unlock()
	if s.replayed(w, realm, reqID, sig) {
		return
	}
	res := s.batch(realm, raw)
	if reqID != "" {
		realm.idem[reqID] = replay{status: res.status, body: res.body, sig: sig}
	}
	s.writeResponse(w, res)
}

// batch runs a batch request body. Caller holds realm.mu.
func (s *Server) batch(realm *Realm, raw []byte) response {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var req struct {
		Items []obj `json:"BatchItemRequest"`
	}
	if err := dec.Decode(&req); err != nil {
		return s.faultBody(http.StatusBadRequest, badProperty(err.Error()))
	}
	if len(req.Items) == 0 {
		return s.faultBody(http.StatusBadRequest, required("BatchItemRequest"))
	}
	if len(req.Items) > maxBatchItems {
		return s.faultBody(http.StatusBadRequest, batchTooLarge(len(req.Items)))
	}
	seen := map[string]bool{}
	for _, it := range req.Items {
		bID, _ := it["bId"].(string)
		switch {
		case bID == "":
			return s.faultBody(http.StatusBadRequest, required("bId"))
		case len(bID) > maxBatchBIDLen:
			return s.faultBody(http.StatusBadRequest, tooLong("bId", maxBatchBIDLen, len(bID)))
		case seen[bID]:
			return s.faultBody(http.StatusBadRequest, badProperty("bId (duplicate "+bID+")"))
		}
		seen[bID] = true
	}

	out := make([]any, 0, len(req.Items))
	for _, it := range req.Items {
		out = append(out, s.batchItem(realm, it))
	}
	return s.jsonBody(obj{"BatchItemResponse": out, "time": s.envelopeTime()})
}

func itemFault(bID string, f *fault) obj {
	return obj{"bId": bID, "Fault": obj{"Error": []*fault{f}, "type": "ValidationFault"}}
}

func (s *Server) batchItem(realm *Realm, it obj) obj {
	bID := it["bId"].(string)
	if qv, ok := it["Query"]; ok {
		src, _ := qv.(string)
		// QuickBooks sends no totalCount in batch query items.
		qr, f := runQuery(src, realm.queryRowsLocked, false)
		if f != nil {
			return itemFault(bID, f)
		}
		return obj{"bId": bID, "QueryResponse": qr}
	}
	var k *kind
	var body obj
	for key, v := range it {
		switch key {
		case "bId", "operation", "optionsData":
			continue
		}
		kk := kindByName(key)
		if kk == nil || kk.name != key {
			return itemFault(bID, unsupportedOp("batch item "+key))
		}
		if k != nil {
			return itemFault(bID, badProperty("batch item has more than one entity ("+k.name+", "+key+")"))
		}
		b, ok := v.(obj)
		if !ok {
			return itemFault(bID, badProperty(key))
		}
		k, body = kk, b
	}
	if k == nil {
		return itemFault(bID, required("Query or entity"))
	}
	op, _ := it["operation"].(string)
	optionsData, _ := it["optionsData"].(string)
	opts := options(optionsData)
	switch op {
	case "create", "update", "delete":
	case "":
		return itemFault(bID, required("operation"))
	default:
		return itemFault(bID, unsupportedOp(op))
	}
	if op == "update" && opts["void"] {
		op = "void"
	}
	o, f := s.apply(realm, k, op, body, reqOpts{allowDuplicateDocNum: opts["allowduplicatedocnum"]})
	if f != nil {
		return itemFault(bID, f)
	}
	return obj{"bId": bID, k.name: o}
}
