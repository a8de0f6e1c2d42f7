package web

import (
	"net/http"

	"github.com/sensorhub/sensorhub/internal/compressor"
)

// compressors serves GET /api/v1/compressors?customer=&sensor=&from=&to=:
// the specific power of the compressors (configuration's compressors) of
// the customers the principal sees, or of one; with sensor, those whose
// power or flow meter is of that kind.
func (s *Server) compressors(w http.ResponseWriter, r *http.Request) {
	if hiddenCustomer(w, r) {
		return
	}
	from, to, err := timeRange(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	p := principalOf(r)
	out := []compressor.Figures{}
	for _, c := range s.config().Compressors {
		if !p.Sees(c.Customer) || q.Get("customer") != "" && c.Customer != q.Get("customer") ||
			q.Get("sensor") != "" && c.Power.Sensor != q.Get("sensor") && c.Flow.Sensor != q.Get("sensor") {
			continue
		}
		f, err := compressor.Load(r.Context(), s.Store, c, from, to, s.Location)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out = append(out, f)
	}
	writeJSON(w, out)
}
