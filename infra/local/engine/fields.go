package engine

import (
	"fmt"
	"math"
	"sort"
)

// kind is the JSON type an ASL field must have.
type kind int

const (
	kString     kind = iota // a string
	kBool                   // true or false
	kObject                 // a JSON object
	kArray                  // a JSON array
	kPathOrNull             // a path string, or null (InputPath, OutputPath, ResultPath)
	kPosInt                 // an integer ≥ 1
	kNonNegInt              // an integer ≥ 0
	kNumber                 // any JSON number
	kAny                    // any JSON value (Pass Result)
)

func (k kind) String() string {
	return [...]string{"a string", "true or false", "an object", "an array", "a path or null",
		"a positive integer", "a non-negative integer", "a number", "any value"}[k]
}

// fieldKinds gives the type of every field the engine knows, wherever it appears: a known
// field of the wrong type is refused, never dropped or read as its zero value.
var fieldKinds = map[string]kind{
	// top level and item processors
	"StartAt": kString, "States": kObject, "Version": kString, "QueryLanguage": kString, "ProcessorConfig": kObject, "Mode": kString,
	// every state
	"Type": kString, "Comment": kString, "Next": kString, "End": kBool,
	"InputPath": kPathOrNull, "OutputPath": kPathOrNull, "ResultPath": kPathOrNull,
	"Parameters": kObject, "ResultSelector": kObject, "Retry": kArray, "Catch": kArray,
	// Task
	"Resource": kString, "TimeoutSeconds": kPosInt, "TimeoutSecondsPath": kString,
	// Choice
	"Choices": kArray, "Default": kString, "Variable": kString, "And": kArray, "Or": kArray, "Not": kObject,
	// Pass
	"Result": kAny,
	// Wait
	"Seconds": kNonNegInt, "SecondsPath": kString, "Timestamp": kString, "TimestampPath": kString,
	// Fail
	"Error": kString, "Cause": kString,
	// Map
	"ItemsPath": kString, "ItemSelector": kObject, "MaxConcurrency": kNonNegInt, "MaxConcurrencyPath": kString,
	"ItemProcessor": kObject, "Iterator": kObject,
	// retriers and catchers
	"ErrorEquals": kArray, "IntervalSeconds": kPosInt, "MaxAttempts": kNonNegInt, "BackoffRate": kNumber,
	"MaxDelaySeconds": kPosInt, "JitterStrategy": kString,
}

// checkKinds refuses the first field of m (in name order) whose value is not of its kind.
// Fields outside fieldKinds (choice operators, payload templates) are checked where they
// are parsed.
func checkKinds(m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want, known := fieldKinds[k]
		if known && !isKind(m[k], want) {
			return fmt.Errorf("field %q must be %s, not %s", k, want, describe(m[k]))
		}
	}
	return nil
}

func isKind(v any, k kind) bool {
	switch k {
	case kString:
		_, ok := v.(string)
		return ok
	case kBool:
		_, ok := v.(bool)
		return ok
	case kObject:
		_, ok := v.(map[string]any)
		return ok
	case kArray:
		_, ok := v.([]any)
		return ok
	case kPathOrNull:
		_, ok := v.(string)
		return ok || v == nil
	case kNumber:
		_, ok := number(v)
		return ok
	case kPosInt, kNonNegInt:
		f, ok := number(v)
		min := 0.0
		if k == kPosInt {
			min = 1
		}
		return ok && f == math.Trunc(f) && f >= min
	}
	return true
}

// describe names the JSON type of v for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if f, ok := number(v); ok {
		return fmt.Sprintf("the number %v", f)
	}
	return fmt.Sprintf("%T", v)
}
