/// The cues, titles, roles and stop lists the person-name recognizer reads.
enum PersonNameWords {
    enum CueRule {
        /// Always a cue.
        case plain
        /// A cue only when one of these words comes shortly before ("send the report to Maria",
        /// not "flight to Paris").
        case after(Set<String>)
        /// A greeting: only at the start of a line.
        case greeting
    }

    struct Cue {
        let words: [String]
        let rule: CueRule
        /// Prepositions that also introduce dates and places: a lone "May" or "Paris" after them is not a name.
        let temporal: Bool
    }

    static let cues: [Cue] = {
        let plain: [[String]] = [
            ["my", "name", "is"], ["my", "name's"], ["name", "is"], ["names", "are"], ["i", "am"], ["i'm"], ["im"], ["this", "is"],
            ["it's"], ["here", "is"], ["call"], ["called"], ["calling"], ["call", "back"], ["ask"], ["asked"], ["email"], ["e-mail"],
            ["emailed"], ["mail"], ["remind"], ["reminded"], ["meet"], ["met"], ["meeting", "with"], ["meet", "with"],
            ["meet", "up", "with"], ["tell"], ["told"], ["text"], ["texted"], ["message"], ["whatsapp"], ["dm"], ["sms"],
            ["facetime"], ["skype"], ["ping"], ["invite"], ["invited"], ["thank"], ["visit"], ["contact"], ["phone"], ["ring"],
            ["named"], ["congratulate"], ["cc"], ["with"], ["talk", "to"], ["speak", "to"], ["speak", "with"], ["talk", "with"],
            ["reply", "to"], ["write", "to"], ["write", "back", "to"], ["respond", "to"], ["send"], ["forward"], ["pick", "up"],
            ["assign", "to"], ["assigned", "to"], ["assign"], ["delegate", "to"], ["hand", "over", "to"], ["follow", "up", "with"],
            ["check", "with"], ["check", "in", "with"], ["sync", "with"], ["catch", "up", "with"], ["interview"], ["introduce"],
            ["pay"], ["owe"], ["thanks", "to"], ["signed"], ["regards", "from"], ["let"], ["from"], ["wish"], ["congratulate"],
            ["surprise"], ["hug"], ["collect"], ["drive"], ["fetch"],
        ]
        let greetings: [[String]] = [["hi"], ["hello"], ["hey"], ["dear"]]
        let restricted: [String: Set<String>] = [
            "to": ["assign", "assigned", "reassign", "delegate", "delegated", "share", "shared", "send", "sent", "give", "gave",
                   "write", "wrote", "talk", "speak", "reply", "forward", "hand", "pass", "introduce", "say", "said", "show", "lend",
                   "return", "mail", "email", "deliver", "explain", "mention", "report", "text", "post", "hello", "hi", "goodbye",
                   "bye", "invoice", "letter", "note", "card", "gift", "present", "flowers", "reminder", "message", "thanks", "wave",
                   "handover", "pay", "transfer", "wire", "sell", "sold", "lent", "it", "them", "this", "that", "task", "tasks"],
            "for": ["gift", "present", "birthday", "card", "flowers", "cake", "party", "surprise", "buy", "bought", "get", "pick",
                    "book", "reserve", "order", "make", "bake", "cook", "prepare", "sign", "wait", "waiting", "cover", "ask", "asked",
                    "appointment", "reservation", "table", "ticket", "tickets", "dinner", "lunch", "something", "tip",
                    "reminder", "reminders", "note", "notes", "task", "tasks", "todo", "message", "question", "questions"],
            "about": ["remind", "reminder", "reminders", "note", "notes", "ask", "asked", "talk", "call", "email", "tell", "told",
                      "forget", "worry", "worried", "think", "news", "message", "question", "questions", "update", "task", "hear"],
            "by": ["signed", "sent", "written", "approved", "reviewed", "requested", "submitted", "owned", "assigned", "organized",
                   "organised", "hosted", "led", "run", "made", "shared", "recommended", "referred", "introduced", "called", "emailed"],
        ]
        let temporal: Set<String> = ["from", "to", "for", "by", "with", "visit", "meet", "about"]
        var all: [Cue] = []
        for words in plain { all.append(Cue(words: words, rule: .plain, temporal: temporal.contains(words.last!))) }
        for words in greetings { all.append(Cue(words: words, rule: .greeting, temporal: false)) }
        for (word, before) in restricted { all.append(Cue(words: [word], rule: .after(before), temporal: true)) }
        return all
    }()

    /// Cues by their first word, longest first so "meeting with" is tried before "with".
    /// Verbs whose objects are people, for names joined later in the sentence with "and".
    static let coordinationCues: Set<String> = [
        "call", "email", "text", "ask", "tell", "remind", "meet", "invite", "message", "ping", "thank", "visit", "contact",
        "phone", "ring", "congratulate", "with",
    ]

    static let cuesByFirstWord: [String: [Cue]] = {
        var map: [String: [Cue]] = [:]
        for cue in cues.sorted(by: { $0.words.count > $1.words.count }) {
            map[cue.words[0], default: []].append(cue)
        }
        return map
    }()

    /// Cues whose name may follow a colon ("From: Anna Schmidt").
    static let colonCues: Set<String> = ["from", "cc", "to", "contact", "with", "by", "is"]

    static let titles: Set<String> = [
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "madam", "mister", "señor", "herr", "frau",
        "aunt", "auntie", "uncle", "grandma", "grandpa", "granny", "nana", "cousin",
    ]
    /// Titles that also work lower case ("visit aunt Mary").
    static let relationTitles: Set<String> = ["aunt", "auntie", "uncle", "grandma", "grandpa", "granny", "nana", "cousin"]

    /// "my colleague Sven Olsen", "the plumber, Tom": a role, then the person's name.
    static let roles: Set<String> = [
        "colleague", "coworker", "co-worker", "friend", "manager", "boss", "neighbor", "neighbour", "landlord", "landlady",
        "dentist", "doctor", "plumber", "electrician", "assistant", "client", "customer", "wife", "husband", "son", "daughter",
        "brother", "sister", "partner", "teacher", "coach", "lawyer", "accountant", "tenant", "nanny", "babysitter", "tutor",
        "mentor", "intern", "recruiter", "roommate", "flatmate", "mother", "father", "niece", "nephew", "grandson",
        "granddaughter", "girlfriend", "boyfriend", "fiancé", "fiancée", "fiance", "fiancee", "supervisor", "teammate", "director",
        "ceo", "cto", "cfo", "founder", "therapist", "trainer", "realtor", "contractor", "mechanic", "hairdresser", "barber",
        "caretaker", "candidate", "applicant", "buddy", "cousin", "contact", "colleagues", "friends", "neighbours", "neighbors",
        "stepmom", "stepdad", "stepson", "stepdaughter", "lead", "owner", "organizer", "organiser", "host", "guest", "vet",
    ]

    /// After a name: "Anna Schmidt called", "Tom said ...".
    static let reportingVerbs: Set<String> = [
        "called", "calls", "emailed", "texted", "messaged", "phoned", "rang", "said", "says", "asked", "asks", "wants", "wanted",
        "needs", "needed", "wrote", "writes", "sent", "mentioned", "told", "replied", "confirmed", "suggested", "promised",
        "offered", "invited", "agreed", "thinks", "prefers", "requested", "complained", "approved", "reminded", "dropped",
        "left", "owes", "lent", "paid", "recommended",
    ]

    static let particles: Set<String> = [
        "van", "von", "de", "der", "den", "del", "della", "di", "da", "du", "la", "le", "dos", "das", "ten", "ter", "bin", "ibn",
        "al", "el", "zu", "y",
    ]

    /// Common first names, to accept a name typed in lower case right after a cue ("text jake about
    /// saturday"). Names that are also everyday words (will, mark, rose, max ...) are left out.
    static let lowercaseFirstNames: Set<String> = {
        let names = """
        aaron abdul abigail adam adrian ahmed aisha alan albert alejandro alex alexander alexandra alexis alfred ali alice alicia
        alina alison amanda amelia amir amy ana anastasia andre andrea andreas andrew andy angela angelo anita ann anna anne
        annie anthony antonio arjun arthur ashley aurora barbara beatriz ben benjamin bernard beth betty bianca bjorn brandon
        brenda brian bruno caleb camila carla carlos carmen carol caroline carolyn casey catherine cathy charles charlie chen
        chloe chris christian christina christine christopher claire clara claudia colin connor craig cynthia daniel daniela
        daniele danielle david debbie deborah denise dennis derek diana diane diego dmitri dominic donald donna dorothy douglas
        dylan edward elena eli elias elif elijah elisa elizabeth ella ellen emily emma emmanuel eric erik erin ethan eva evelyn
        fabian farah fatima felix fernando fiona francesca francesco francis frederick gabriel gabriela gary george gerald
        giovanni giulia gloria gordon greg gregory gustavo hamid hana hannah harold harriet harry hassan heather helen helena
        henry hiroshi hugo ian igor ines ingrid irene isaac isabel isabella isla ivan jacob jake james jamie jane janet
        jasmine jason javier jean jeff jeffrey jennifer jenny jeremy jessica jesse jim jimmy joan joanna joao joe joel johan
        johann john jonas jonathan jordan jorge jose joseph joshua juan judith judy julia julian julie justin karen karin
        karl kate katherine kathleen kathy katie katrin kayla keith kelly ken kenji kenneth kevin khalid kim kimberly kofi
        kurt kyle lara laura lauren lea leah lena leo leon leonardo liam lina linda lisa liz lorenzo louis louise lucas lucia
        lucy luis luka lukas luke luna madeleine magdalena maria mariam marie marina mario marta martha martin mary maria
        mateo matteo matthew matthias maya megan mehmet mei melissa mia michael michaela michelle miguel mike mila milan
        mohammed monica mohamed muhammad nadia nancy naomi natalia natalie nathan nicholas nicole nikolai nina noah nora
        oliver olivia omar oscar pablo pamela patricia patrick paul paula pedro peter philip pierre priya rachel rahul raj
        ralph ramon randy raphael rebecca richard rick robert roberto robin roger ronald rosa ruth ryan sabrina sam samantha
        samuel sandra sara sarah scott sean sebastian sergei sergio shannon sharon simon simone sofia sophia sophie stefan
        stefanie stephanie stephen steve steven susan svetlana sven tanya tara teresa theresa thomas tim timothy tobias tom
        tomas tony tyler valentina valerie vanessa vera veronica victor vincent viktor walter wei william xavier yasmin yuki
        yusuf zara zoe zoey
        """
        return Set(names.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }()

    /// Names that are also months or places: alone after "from", "for", "to" ... they are not people.
    static let monthNames: Set<String> = ["april", "may", "june", "august", "jan"]
    static let placeNames: Set<String> = [
        "paris", "florence", "victoria", "sydney", "austin", "jordan", "georgia", "chelsea", "madison", "lincoln", "dallas",
        "houston", "charlotte", "phoenix", "savannah", "vienna", "adelaide", "regina", "santiago", "lourdes", "china", "india",
        "israel", "kent", "devon", "orlando", "denver", "nancy", "virginia", "carolina", "troy", "eugene",
    ]

    /// Capitalized words that are not names (or not names on their own after a cue).
    static let stopWords: Set<String> = {
        let words = """
        i i'm i'd i'll i've me my mine myself you your yours yourself he him his himself she her hers herself it its itself we us
        our ours they them their theirs someone somebody anyone anybody everyone everybody nobody noone all both each either neither
        none one two three four five ten hundred some any every no not nothing everything something anything this that these those
        the a an and or but if then else so because as at by for from in into of on onto to up upon with without about after before
        over under again also just only still even really very too quite please pls plz thanks thank thx ty sorry okay ok yes yeah
        yep nope no hi hello hey dear bye goodbye welcome cheers regards best sincerely yours love
        monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun weekday weekdays weekend
        january february march july september october november december feb mar apr jun jul aug sep sept oct nov dec
        today tonight tomorrow yesterday tmrw tmr now later soon tonite morning afternoon evening night noon midnight week month
        year day days weeks months years hour hours minute minutes time next last this coming early late asap eod eow
        christmas xmas easter thanksgiving halloween hanukkah diwali ramadan eid new years nye valentine valentine's
        mom mum mommy mummy mother dad daddy father parents grandma grandpa granny nana papa grandmother grandfather sis bro
        sister brother aunt uncle cousin wife husband son daughter kids kid baby family boss manager team colleague colleagues
        client clients customer customers neighbor neighbour friend friends partner landlord roommate doctor dentist doc vet
        nurse plumber electrician mechanic lawyer accountant teacher coach therapist pharmacy pharmacist bank support helpdesk
        hr it sales marketing finance legal admin ops accounting payroll reception security it's that's what's here there where
        when who why how which whatever whoever home work office school church gym store shop market mall airport station
        hospital clinic hotel restaurant cafe library park downtown city town center centre street road avenue lane drive
        google amazon apple microsoft meta facebook instagram twitter linkedin whatsapp telegram signal zoom slack teams skype
        uber lyft netflix spotify youtube paypal venmo stripe visa mastercard amex ikea costco walmart target tesla github
        gitlab jira notion trello asana dropbox outlook gmail icloud excel word powerpoint siri alexa cortana chatgpt parley
        assistant bot ai gpt chat claude world gemini copilot what let men women children kids people nature
        mcdonald macy sainsbury harrod lloyd kellogg domino denny
        car cars diary journal wash repair repairs launch benefits onboarding offboarding training
        verizon comcast vodafone fedex ups dhl usps ebay etsy airbnb expedia starbucks reddit discord dropbox
        life earth other another rent taxes tax fees fee tuition mortgage insurance utilities groceries laundry dishes trash
        acme globex initech contoso fabrikam northwind hooli wonka cyberdyne umbrella vandelay
        product products engineering design operations research leadership management facilities procurement compliance
        infra devops qa data analytics growth partnerships success board staff recruiting talent people service services
        customers desk billing account accounts
        task tasks todo to-do list lists reminder reminders note notes meeting meetings call calls email emails mail message
        messages text texts appointment event events project projects deadline invoice invoices report reports document
        documents file files bill bills payment payments order orders ticket tickets item items agenda plan plans schedule
        add remove delete create update show list complete done finish finished cancel buy pay book get go make take
        send check review read write prepare fix clean call email text ask remind tell meet visit pick drop submit renew
        water feed walk wash cook bake order schedule start stop set move change rename edit find search sort filter
        subject re fwd fw cc bcc attn note nb ps tbd tba etc
        busy tired sick ill fine good great happy sad sorry sure ready done late early back away out off free available
        going trying working looking leaving coming running waiting thinking wondering interested excited glad afraid new old
        important urgent critical high low medium normal priority
        english german french spanish italian dutch swiss austrian british american canadian australian irish scottish welsh
        indian chinese japanese korean russian polish swedish danish norwegian finnish portuguese brazilian mexican greek turkish
        european african asian
        london berlin munich hamburg frankfurt cologne vienna zurich geneva amsterdam rotterdam brussels madrid barcelona rome
        milan lisbon dublin edinburgh manchester oxford cambridge stockholm oslo copenhagen helsinki warsaw prague budapest
        athens istanbul moscow tokyo beijing shanghai seoul singapore dubai mumbai delhi sydney melbourne toronto vancouver
        montreal chicago boston seattle denver miami atlanta york jersey angeles francisco diego vegas washington texas california
        florida germany france spain italy england britain scotland ireland wales europe america canada mexico brazil japan
        korea australia russia poland sweden norway denmark finland austria switzerland netherlands holland belgium portugal
        greece turkey africa asia usa uk eu us
        inc corp corporation llc ltd gmbh ag co company group holdings bank labs systems solutions services department dept
        university college institute hospital foundation association club studio studios agency partners consulting
        """
        return Set(words.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }()

    /// Words that, capitalized right after a name, mean it was an organization ("from Acme Corp").
    static let organizationTails: Set<String> = [
        "inc", "corp", "corporation", "llc", "ltd", "gmbh", "ag", "co", "company", "group", "holdings", "bank", "labs", "systems",
        "solutions", "services", "department", "dept", "university", "college", "institute", "hospital", "clinic", "foundation",
        "association", "club", "studio", "studios", "agency", "partners", "consulting", "team", "support", "store", "shop",
        "street", "st", "road", "rd", "avenue", "ave", "lane", "drive", "park", "center", "centre", "station", "airport", "hotel",
        "restaurant", "cafe", "café", "library", "school", "academy", "office", "airlines", "airways", "insurance", "energy",
        "motors", "pharmacy", "market", "mall", "plaza", "square", "tower", "building", "hall", "city", "county", "state",
        "river", "lake", "mountain", "beach", "island", "app", "api", "cloud", "project", "program", "programme",
    ]

    static let closings: [[String]] = [
        ["thanks"], ["thank", "you"], ["thanks", "again"], ["thanks", "so", "much"], ["thanks", "a", "lot"], ["many", "thanks"],
        ["thx"], ["ty"], ["best"], ["best", "regards"], ["best", "wishes"], ["regards"], ["kind", "regards"], ["warm", "regards"],
        ["warmest", "regards"], ["cheers"], ["sincerely"], ["yours"], ["yours", "truly"], ["yours", "sincerely"], ["love"],
        ["br"], ["all", "the", "best"], ["take", "care"], ["talk", "soon"], ["xoxo"], ["greetings"], ["much", "appreciated"],
        ["cordially"], ["respectfully"], ["ciao"], ["bye"], ["later"], ["see", "you"], ["with", "thanks"], ["gruß"], ["grüße"],
        ["thank", "you", "so", "much"], ["appreciate", "it"], ["kind", "wishes"], ["warmly"], ["sent", "by"], ["signed"],
    ]

    static let closingsByFirstWord: [String: [[String]]] = Dictionary(grouping: closings, by: { $0[0] })

    static let possessiveNouns: Set<String> = [
        "birthday", "bday", "wedding", "party", "anniversary", "graduation", "funeral", "baby", "shower", "retirement", "farewell",
        "mom", "mum", "dad", "wife", "husband", "kids", "son", "daughter", "parents", "brother", "sister", "family", "house",
        "place", "flat", "apartment", "address", "number", "phone", "email", "car", "dog", "cat", "recital", "game", "match",
        "appointment", "surgery", "visa", "passport", "flight", "train", "application", "interview", "promotion", "leaving",
        "present", "gift", "card", "feedback", "request", "invoice", "contract", "report", "presentation", "office", "desk",
        "team", "manager", "assistant", "boyfriend", "girlfriend", "partner", "fiancé", "fiance", "fiancée", "fiancee",
        "kid", "child", "children", "friend", "friends", "laptop", "keys", "book", "notes", "slides", "proposal", "cv", "resume",
    ]
}
