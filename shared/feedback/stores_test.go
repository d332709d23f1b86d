package feedback_test

import "github.com/credbatch/credbatch/shared/storetest/stores"

// backends are the stores every feedback test runs against.
var backends = stores.All
