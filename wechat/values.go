package wechat

// Keyword types (the part of a data key before its index).
const (
	TypeThing           = "thing"
	TypeNumber          = "number"
	TypeLetter          = "letter"
	TypeSymbol          = "symbol"
	TypeCharacterString = "character_string"
	TypeTime            = "time"
	TypeDate            = "date"
	TypeAmount          = "amount"
	TypePhoneNumber     = "phone_number"
	TypeCarNumber       = "car_number"
	TypeName            = "name"
	TypePhrase          = "phrase"
	TypeEnumString      = "enum_string"
	TypeShortThing      = "short_thing"
)

// KnownTypes lists every keyword type the rules know, in documentation order.
var KnownTypes = []string{
	TypeThing, TypeNumber, TypeLetter, TypeSymbol, TypeCharacterString, TypeTime, TypeDate,
	TypeAmount, TypePhoneNumber, TypeCarNumber, TypeName, TypePhrase, TypeEnumString, TypeShortThing,
}

// Keyword is one placeholder of a template's content.
type Keyword struct {
	Label string // text before the placeholder on its line: "订单号"
	Key   string // data key: "character_string1"
	Type  string // "character_string"
	// Enum holds the allowed values of an enum_string keyword (from
	// gettemplate's keywordEnumValueList); nil when unknown.
	Enum []string
}
