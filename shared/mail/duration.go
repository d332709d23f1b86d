package mail

import (
	"fmt"
	"strings"
	"time"
)

// Duration says a duration in words for people ("7 days", "1 day 6 hours", "15 minutes"),
// never Go's 168h0m0s. It keeps the two largest units and drops seconds from an hour up.
func Duration(d time.Duration) string {
	if d <= 0 {
		return "no time"
	}
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	var parts []string
	for _, u := range units {
		if len(parts) == 2 {
			break
		}
		n := d / u.d
		if n == 0 {
			if len(parts) > 0 {
				break
			}
			continue
		}
		d -= n * u.d
		s := fmt.Sprintf("%d %s", n, u.name)
		if n != 1 {
			s += "s"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "less than a second"
	}
	return strings.Join(parts, " ")
}
