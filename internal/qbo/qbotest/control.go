package qbotest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// controlPrefix starts the emulator-only control API (FIDELITY.md "Control
// API"). It needs no OAuth and is never throttled or faulted.
const controlPrefix = "/_control/"

func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_control/realms", s.ctlRealms)
	mux.HandleFunc("GET /_control/realms/{realm}/data", s.ctlData)
	mux.HandleFunc("POST /_control/realms/{realm}/revoke", s.ctlRevoke)
	mux.HandleFunc("GET /_control/realms/{realm}/throttle", s.ctlThrottle)
	mux.HandleFunc("POST /_control/realms/{realm}/throttle", s.ctlSetThrottle)
	mux.HandleFunc("POST /_control/realms/{realm}/{entity}", s.ctlWrite)
	mux.HandleFunc("POST /_control/realms/{realm}/preferences/customfields/{id}", s.ctlSetCustomField)
	mux.HandleFunc("GET /_control/faults", s.ctlFaults)
	mux.HandleFunc("POST /_control/faults", s.ctlAddFaults)
	mux.HandleFunc("DELETE /_control/faults", s.ctlClearFaults)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ctlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) ctlRealm(w http.ResponseWriter, r *http.Request) *Realm {
	realm := s.realms[r.PathValue("realm")]
	if realm == nil {
		ctlError(w, http.StatusNotFound, "unknown realm "+r.PathValue("realm"))
	}
	return realm
}

func (s *Server) ctlRealms(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"realms": s.RealmIDs()})
}

// ctlWrite acts as a QuickBooks user: the body and ?operation= are as for
// the API, and the write goes through the same path (so it is recorded in
// the change feed and announced by webhooks).
func (s *Server) ctlWrite(w http.ResponseWriter, r *http.Request) {
	realm := s.ctlRealm(w, r)
	if realm == nil {
		return
	}
	k := kindByName(r.PathValue("entity"))
	if k == nil {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp("POST "+r.PathValue("entity"))))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty(err.Error())))
		return
	}
	q := r.URL.Query()
	realm.mu.Lock()
	include := options(q["include"]...)
	res := s.write(realm, k, q.Get("operation"), raw, reqOpts{
		allowDuplicateDocNum: include["allowduplicatedocnum"],
		void:                 include["void"],
	})
	realm.mu.Unlock()
	s.writeResponse(w, res)
}

// ctlData returns every object of the realm, by entity name (deleted
// transactions excluded), in the API's JSON shape.
func (s *Server) ctlData(w http.ResponseWriter, r *http.Request) {
	realm := s.ctlRealm(w, r)
	if realm == nil {
		return
	}
	ents := map[string]any{}
	for _, k := range kinds {
		ents[k.name] = realm.List(k.name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"realmId": realm.id, "entities": ents})
}

func (s *Server) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	if s.ctlRealm(w, r) == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": s.RevokeGrants(r.PathValue("realm"))})
}

func (s *Server) ctlFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
}

// ctlAddFaults accepts one rule object or an array of them.
func (s *Server) ctlAddFaults(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	var rules []Fault
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "[") {
		err = json.Unmarshal(raw, &rules)
	} else {
		var f Fault
		err = json.Unmarshal(raw, &f)
		rules = []Fault{f}
	}
	if err != nil {
		ctlError(w, http.StatusBadRequest, "fault rules: "+err.Error())
		return
	}
	for _, f := range rules {
		if err := f.validate(); err != nil {
			ctlError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	for _, f := range rules {
		_ = s.InjectFault(f)
	}
	writeJSON(w, http.StatusOK, map[string]any{"faults": s.Faults()})
}

func (s *Server) ctlClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// ctlThrottle reports the realm's throttle form: {"status":429|403}.
func (s *Server) ctlThrottle(w http.ResponseWriter, r *http.Request) {
	if s.ctlRealm(w, r) == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"status": s.ThrottleStatus(r.PathValue("realm"))})
}

// ctlSetThrottle sets the realm's throttle form from {"status":429|403}
// (403 + code 3001 is how older accounts are throttled).
func (s *Server) ctlSetThrottle(w http.ResponseWriter, r *http.Request) {
	if s.ctlRealm(w, r) == nil {
		return
	}
	var body struct {
		Status int `json:"status"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&body); err != nil {
		ctlError(w, http.StatusBadRequest, "throttle: "+err.Error())
		return
	}
	if err := s.SetThrottleStatus(r.PathValue("realm"), body.Status); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.ctlThrottle(w, r)
}
