package report_test

import "github.com/credbatch/credbatch/shared/storetest/stores"

// backends are the stores every report test runs against.
var backends = stores.All
