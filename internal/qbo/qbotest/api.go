package qbotest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

const maxBody = 10 << 20

// handleAPI serves /v3/company/{realm}/{entity}[/{id}].
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	realmID := r.PathValue("realm")
	if !s.authenticate(w, r, realmID) {
		return
	}
	realm := s.realms[realmID]
	if r.PathValue("id") == "" {
		switch r.PathValue("entity") {
		case "query":
			s.handleQuery(w, r, realm)
			return
		case "cdc":
			s.handleCDC(w, r, realm)
			return
		case "batch":
			s.handleBatch(w, r, realm)
			return
		case "preferences":
			s.handlePreferences(w, r, realm)
			return
		}
	}
	k := kindByName(r.PathValue("entity"))
	if k == nil || k.path != r.PathValue("entity") {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.PathValue("entity"))))
		return
	}
	id := r.PathValue("id")
	q := r.URL.Query()

	switch {
	case r.Method == http.MethodGet && id != "":
		realm.mu.Lock()
		o, ok := realm.objs[k.name][id]
		var res response
		if ok {
			res = s.entityBody(k, realm.render(k, o))
		} else {
			res = s.faultBody(http.StatusBadRequest, notFound(k, id))
		}
		realm.mu.Unlock()
		s.writeResponse(w, res)
		return
	case r.Method == http.MethodPost && id == "":
	default:
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path)))
		return
	}

	reqID := q.Get("requestid")
	if len(reqID) > 50 {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, &fault{Message: "String length is either shorter or longer than supported by specification",
			Detail: "requestid must be at most 50 characters", Code: "2050", Element: "requestid"}))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty(err.Error())))
		return
	}

	realm.mu.Lock()
	defer realm.mu.Unlock()
	if reqID != "" {
		if rep, ok := realm.idem[reqID]; ok {
			w.Header().Set("X-Qbotest-Replayed", "true")
			s.writeResponse(w, response{status: rep.status, body: rep.body})
			return
		}
	}
	res := s.write(realm, k, q.Get("operation"), raw, reqOpts{
		allowDuplicateDocNum: strings.Contains(q.Get("include"), "allowduplicatedocnum"),
		// Payments are voided with operation=update&include=void (qbo-api.md §5).
		void: strings.Contains(q.Get("include"), "void") && !strings.Contains(q.Get("include"), "allowduplicatedocnum"),
	})
	if reqID != "" {
		realm.idem[reqID] = replay{status: res.status, body: res.body}
	}
	s.writeResponse(w, res)
}

// write runs a create/update/delete/void. Caller holds realm.mu.
func (s *Server) write(realm *Realm, k *kind, op string, raw []byte, opts reqOpts) response {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body obj
	if err := dec.Decode(&body); err != nil || body == nil {
		msg := "request body must be a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return s.faultBody(http.StatusBadRequest, badProperty(msg))
	}
	out, f := s.apply(realm, k, op, body, opts)
	if f != nil {
		return s.faultBody(http.StatusBadRequest, f)
	}
	return s.entityBody(k, out)
}

// apply runs one create/update/delete/void on a decoded body; single
// requests and batch items share it. Caller holds realm.mu.
func (s *Server) apply(realm *Realm, k *kind, op string, body obj, opts reqOpts) (obj, *fault) {
	_, hasID := body["Id"]
	switch op {
	case "", "create", "update":
		if opts.void && k.name == "Payment" && (op == "update" || hasID) {
			return realm.void(k, body)
		}
		if op == "update" || (op == "" && hasID) {
			return realm.update(k, body, opts)
		}
		return realm.create(k, body, opts)
	case "delete":
		if !k.txn {
			return nil, unsupportedOp("delete on " + k.name + " (set Active to false instead)")
		}
		return realm.remove(k, body)
	case "void":
		if k.name != "Invoice" && k.name != "Payment" {
			return nil, unsupportedOp("void on " + k.name)
		}
		return realm.void(k, body)
	default:
		return nil, unsupportedOp(op)
	}
}

type response struct {
	status int
	body   []byte
}

func (s *Server) entityBody(k *kind, o obj) response {
	b, err := json.Marshal(map[string]any{k.name: o, "time": s.envelopeTime()})
	if err != nil {
		panic(err)
	}
	return response{status: http.StatusOK, body: b}
}

func (s *Server) faultBody(status int, f *fault) response {
	b, err := json.Marshal(map[string]any{
		"Fault": map[string]any{"Error": []*fault{f}, "type": "ValidationFault"},
		"time":  s.envelopeTime(),
	})
	if err != nil {
		panic(err)
	}
	return response{status: status, body: b}
}

func (s *Server) writeResponse(w http.ResponseWriter, res response) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("intuit_tid", randToken("", 8))
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}
