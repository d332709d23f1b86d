package dynamo

// ItemBytes is itemBytes for the package's external tests.
var ItemBytes = itemBytes
