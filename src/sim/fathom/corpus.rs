//! Word lists and sentence templates for generated meetings.
//!
//! Placeholders: `{customer}` customer company, `{us}` the recorder's company, `{person}` another
//! attendee's first name, `{n}` a small number, `{day}` a weekday, `{feature}`, `{competitor}`.

/// A customer company: domain, display name, people (first, last).
pub(crate) struct Company {
    pub domain: &'static str,
    pub name: &'static str,
    pub people: &'static [(&'static str, &'static str)],
}

pub(crate) const COMPANIES: &[Company] = &[
    Company {
        domain: "northwind.com",
        name: "Northwind Traders",
        people: &[
            ("John", "Smith"),
            ("Priya", "Patel"),
            ("Wei", "Chen"),
            ("Sarah", "O'Neil"),
        ],
    },
    Company {
        domain: "globex.io",
        name: "Globex",
        people: &[("Lena", "Fischer"), ("Tom", "Becker"), ("Aisha", "Khan")],
    },
    Company {
        domain: "initech.com",
        name: "Initech",
        people: &[("Sam", "Ortiz"), ("Peter", "Gibbons"), ("Joanna", "Park")],
    },
    Company {
        domain: "umbrella-health.com",
        name: "Umbrella Health",
        people: &[("Grace", "Okafor"), ("Daniel", "Weiss"), ("Mei", "Tanaka")],
    },
    Company {
        domain: "vandelay.com",
        name: "Vandelay Industries",
        people: &[
            ("Art", "Vandelay"),
            ("Nora", "Lindqvist"),
            ("Carlos", "Mendes"),
        ],
    },
    Company {
        domain: "soylent.co",
        name: "Soylent Co",
        people: &[("Hannah", "Berg"), ("Oliver", "Grant"), ("Fatima", "Zahra")],
    },
    Company {
        domain: "tyrell.io",
        name: "Tyrell Systems",
        people: &[("Eldon", "Hart"), ("Rachel", "Moreau"), ("Kenji", "Sato")],
    },
    Company {
        domain: "wonka.com",
        name: "Wonka Foods",
        people: &[("Charlie", "Bucket"), ("Isabel", "Cruz"), ("Ravi", "Kumar")],
    },
    Company {
        domain: "hooli.com",
        name: "Hooli",
        people: &[("Gavin", "Belson"), ("Denise", "Okoye"), ("Jared", "Dunn")],
    },
    Company {
        domain: "stark-logistics.com",
        name: "Stark Logistics",
        people: &[("Pepper", "Potts"), ("Happy", "Hogan"), ("Maya", "Hansen")],
    },
    Company {
        domain: "piedpiper.com",
        name: "Pied Piper",
        people: &[
            ("Monica", "Hall"),
            ("Dinesh", "Chugtai"),
            ("Laurie", "Bream"),
        ],
    },
    Company {
        domain: "oscorp.io",
        name: "Oscorp Labs",
        people: &[
            ("Norman", "Osborn"),
            ("Felicia", "Hardy"),
            ("Curt", "Connors"),
        ],
    },
];

pub(crate) const FREE_MAIL: &[&str] = &["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Alex", "Maria", "James", "Sofia", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ethan",
    "Chloe", "Dev", "Ana", "Marco", "Yuki", "Omar", "Ingrid", "Tariq", "Zoe",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Raman", "Rossi", "Novak", "Jensen", "Garcia", "Kowalski", "Dubois", "Nguyen", "Müller",
    "Silva", "Brown", "Haddad", "Larsen", "Ito", "Murphy", "Costa", "Evans", "Popescu",
];

pub(crate) const TEAMS: &[&str] = &["Sales", "Customer Success", "Solutions Engineering"];

/// External meeting types (name, title pattern).
pub(crate) const EXTERNAL_TYPES: &[(&str, &str)] = &[
    ("Discovery Call", "Discovery call with {customer}"),
    ("Customer Check-in", "Weekly sync with {customer}"),
    (
        "Quarterly Business Review",
        "{customer} quarterly business review",
    ),
    ("Product Demo", "{us} demo for {customer}"),
    ("Onboarding", "{customer} onboarding session"),
    ("Renewal", "{customer} renewal discussion"),
    (
        "Technical Deep Dive",
        "Security and SSO review with {customer}",
    ),
];

/// Internal meeting types (name, title pattern).
pub(crate) const INTERNAL_TYPES: &[(&str, &str)] = &[
    ("Pipeline Review", "Weekly pipeline review"),
    ("Team Sync", "{us} team sync"),
    ("Deal Strategy", "Deal strategy: {customer}"),
];

pub(crate) const FEATURES: &[&str] = &[
    "single sign-on",
    "the Salesforce sync",
    "audit logs",
    "the reporting dashboard",
    "role-based permissions",
    "the API",
    "bulk export",
    "the mobile app",
];

pub(crate) const COMPETITORS: &[&str] = &["Gong", "Chorus", "Otter", "a spreadsheet process"];

pub(crate) const WEEKDAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];

pub(crate) const OPENING: &[&str] = &[
    "Thanks for making the time today, everyone.",
    "Hi all, can you hear me okay?",
    "Good to see you again, {person}.",
    "Let me share my screen in a second.",
    "Before we start, is everyone able to see the agenda?",
    "I think we're still waiting for one more person, but let's get going.",
    "How was the week on your side?",
    "Busy, but good. We closed out the quarter last {day}.",
];

pub(crate) const DISCOVERY: &[&str] = &[
    "Can you walk me through how your team handles this today?",
    "Right now it's mostly manual. We copy notes into {competitor} after every call.",
    "How many people would be using this day to day?",
    "Probably around {n} to start, then the rest of the team next quarter.",
    "What made you start looking at this now?",
    "Leadership wants better visibility into what customers are actually telling us.",
    "Two of our three regions are live, and the third is blocked on {feature}.",
    "Who else is involved in the decision on your side?",
    "Our VP of operations signs off, and IT needs to review security.",
    "That makes sense. What does success look like in six months?",
    "Fewer things falling through the cracks between sales and support.",
    "We tried {competitor} last year but adoption was low.",
];

pub(crate) const PRODUCT: &[&str] = &[
    "Let me show you how {feature} works in practice.",
    "This is the view most managers live in.",
    "Does {feature} work with our existing identity provider?",
    "Yes, we support SAML and OIDC, and setup usually takes about a day.",
    "Can we restrict who sees which accounts?",
    "That's handled by role-based permissions, you can scope it per team.",
    "How does the data get in, is it real time?",
    "It syncs every few minutes, and you can trigger it manually.",
    "We'd need {feature} before we could roll it out to the whole team.",
    "That's on the roadmap for next quarter, I can share the timeline.",
    "What happens to the data if we cancel?",
    "You can export everything, and we delete it within {n} days.",
    "Our security team will want to see the SOC 2 report.",
    "No problem, I'll send that over after the call.",
];

pub(crate) const COMMERCIAL: &[&str] = &[
    "Let's talk about pricing for a moment.",
    "For {n} seats we'd be looking at the annual plan.",
    "Finance wants a firm number before they sign off.",
    "Is there flexibility if we commit to two years?",
    "There is, I'll check with my manager and come back by {day}.",
    "Budget is tight this quarter, so timing matters.",
    "The renewal date is end of next month, so we have some room.",
    "Honestly the price is higher than {competitor}.",
    "I understand. Most teams find the time saved covers it within a quarter.",
    "Can we start with a pilot for one team?",
    "A pilot of {n} weeks is something we do often.",
];

pub(crate) const NEXT_STEPS: &[&str] = &[
    "So for next steps, I'll send the revised proposal by {day}.",
    "{person}, could you loop in your IT contact?",
    "I'll set up a follow-up for next {day}.",
    "We'll review internally and get back to you.",
    "Let's aim to have the pilot running in {n} weeks.",
    "I'll share the recording and the notes after this call.",
    "Can you send over the security questionnaire?",
    "Sounds good, that gives us what we need for the budget meeting.",
];

pub(crate) const CLOSING: &[&str] = &[
    "Great, thanks everyone.",
    "Thanks, talk soon.",
    "Have a good rest of your {day}.",
    "Appreciate it, bye for now.",
];

pub(crate) const INTERNAL: &[&str] = &[
    "Let's go through the pipeline from the top.",
    "{customer} is still in evaluation, they want {feature} first.",
    "I think {customer} slips to next quarter.",
    "What's the blocker there?",
    "Procurement. They need the security review done.",
    "Can someone from solutions help with the demo on {day}?",
    "I can take that.",
    "We should update the forecast before the board meeting.",
    "Win rate is up about {n} percent this month.",
    "{competitor} came up again in two deals this week.",
    "Let's put together a comparison sheet.",
    "Any risks on the renewals?",
    "{customer} is happy but asked about {feature} again.",
];

pub(crate) const ACTION_ITEMS: &[&str] = &[
    "Send the revised proposal to {customer}",
    "Share the SOC 2 report with {person}",
    "Schedule a follow-up demo of {feature}",
    "Loop in the IT contact at {customer}",
    "Confirm pricing for {n} seats with finance",
    "Send the security questionnaire back",
    "Set up the pilot workspace for {customer}",
    "Update the forecast in the CRM",
];

pub(crate) const HIGHLIGHT_TYPES: &[&str] = &[
    "Objection",
    "Next step",
    "Pricing",
    "Competitor mention",
    "Feature request",
    "Decision",
];

pub(crate) const KEY_POINTS: &[&str] = &[
    "{customer} currently tracks call notes manually and wants better visibility for leadership.",
    "{feature} is a requirement before a wider rollout.",
    "Finance needs a firm figure for {n} seats before approving.",
    "{competitor} was evaluated previously; adoption was the main problem.",
    "Security review (SOC 2, SSO) is owned by the customer's IT team.",
    "A pilot of {n} weeks with one team was discussed.",
    "The renewal date is end of next month.",
];
