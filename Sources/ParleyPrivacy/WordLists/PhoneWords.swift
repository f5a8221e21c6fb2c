/// The words around a number that tell a phone number from an identifier or a quantity.
enum PhoneWords {
    static let phoneWords: Set<String> = [
        "call", "calls", "called", "calling", "phone", "phones", "tel", "telephone", "mobile", "cell", "cellphone", "handy",
        "number", "numbers", "text", "texts", "sms", "ring", "fax", "whatsapp", "signal", "dial", "reach", "reachable",
        "contact", "hotline", "landline", "ph", "mob", "callback", "voicemail",
    ]

    /// Words right before a number that make it an identifier, not a phone.
    static let notPhoneWords: Set<String> = [
        "order", "orders", "invoice", "invoices", "ticket", "tickets", "ref", "reference", "id", "ids", "case", "tracking",
        "account", "acct", "confirmation", "booking", "policy", "serial", "sku", "item", "items", "task", "tasks", "po",
        "receipt", "transaction", "customer", "member", "membership", "pin", "code", "zip", "postcode", "version", "build",
        "flight", "room", "isbn", "iban", "bic", "swift", "card", "issue", "bug", "pr", "shipment", "parcel",
        "package", "contract", "claim", "patient", "student", "employee", "license", "licence", "vat", "tax", "passport",
        "batch", "lot", "step", "page", "pages", "chapter", "seat", "gate", "platform", "bus", "train", "route",
    ]

    /// Words skipped when looking for the word that names a number ("order no. 123", "my number is").
    static let fillerWords: Set<String> = [
        "no", "nr", "num", "number", "is", "#", "the", "my", "his", "her", "their", "at", "on", "under", "via", "s",
    ]

    /// Words right after a number that make it a quantity.
    static let quantityWords: Set<String> = [
        "eur", "euro", "euros", "usd", "dollar", "dollars", "gbp", "pound", "pounds", "chf", "yen", "jpy", "percent",
        "km", "kg", "mb", "gb", "kb", "tb", "items", "units", "pcs", "pieces", "times", "minutes", "mins", "hours", "hrs",
        "days", "weeks", "steps", "words", "points", "people", "users", "rows", "lines", "bytes", "miles", "meters",
        "calories", "cents", "bucks", "k", "m", "am", "pm",
    ]
}
