//! Reading a CSV file of customers or of contacts, without IO: columns found by header name
//! (case-insensitive, with common synonyms), comma or semicolon separated, a UTF-8 BOM allowed;
//! every problem reported with its line number. What needs the database (a domain another
//! customer has, a contact's customer that does not exist) is checked by the caller.

use std::collections::HashMap;

use crate::domain::{CompanyDomain, Email};

/// Largest file accepted.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most data rows accepted.
pub const MAX_ROWS: usize = 50_000;
/// Longest name, title or customer reference.
const MAX_TEXT: usize = 200;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Customers,
    Contacts,
}

impl ImportKind {
    /// As stored and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Contacts => "contacts",
        }
    }

    /// From a form or the database.
    pub fn parse(text: &str) -> Option<ImportKind> {
        match text {
            "customers" => Some(ImportKind::Customers),
            "contacts" => Some(ImportKind::Contacts),
            _ => None,
        }
    }
}

/// A field of an import and the headers that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Customers: the company's name.
    CompanyName,
    /// Customers: its domains.
    Domains,
    /// Contacts: the email.
    Email,
    /// Contacts: the person's name.
    PersonName,
    /// Contacts: the job title.
    Title,
    /// Contacts: their customer, by name or domain.
    Customer,
}

impl Field {
    /// For the preview.
    pub fn label(self) -> &'static str {
        match self {
            Field::CompanyName => "Company name",
            Field::Domains => "Domains",
            Field::Email => "Email",
            Field::PersonName => "Name",
            Field::Title => "Title",
            Field::Customer => "Customer (name or domain)",
        }
    }

    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::CompanyName => &[
                "name",
                "company",
                "company name",
                "account",
                "account name",
                "organization",
                "organisation",
                "organization name",
                "customer",
                "customer name",
            ],
            Field::Domains => &[
                "domain",
                "domains",
                "website",
                "websites",
                "web site",
                "url",
                "company domain",
            ],
            Field::Email => &["email", "e-mail", "email address", "e-mail address", "mail"],
            Field::PersonName => &["name", "full name", "contact name", "contact", "person"],
            Field::Title => &["title", "job title", "position", "role"],
            Field::Customer => &[
                "company",
                "company name",
                "account",
                "account name",
                "organization",
                "organisation",
                "customer",
                "customer name",
                "domain",
                "company domain",
                "website",
            ],
        }
    }
}

impl ImportKind {
    fn fields(self) -> &'static [(Field, bool)] {
        match self {
            ImportKind::Customers => &[(Field::CompanyName, true), (Field::Domains, false)],
            ImportKind::Contacts => &[
                (Field::Email, true),
                (Field::PersonName, false),
                (Field::Title, false),
                (Field::Customer, true),
            ],
        }
    }
}

/// One customer row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub line: u64,
    pub name: String,
    pub domains: Vec<CompanyDomain>,
}

/// One contact row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub line: u64,
    pub email: Email,
    pub name: Option<String>,
    pub title: Option<String>,
    /// The customer's name or domain as written.
    pub customer: String,
}

/// The rows of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    Customers(Vec<CustomerRow>),
    Contacts(Vec<ContactRow>),
}

impl Rows {
    /// How many data rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Customers(r) => r.len(),
            Rows::Contacts(r) => r.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A problem on one line (line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

/// A file read: which header feeds which field, the first rows as written, the rows, and every
/// problem found.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub kind: ImportKind,
    /// `(field, the header it was found under)`, in the kind's order; `None` when absent.
    pub columns: Vec<(Field, Option<String>)>,
    /// The first rows' cells as written (for the preview).
    pub sample: Vec<Vec<String>>,
    pub rows: Rows,
    pub errors: Vec<LineError>,
}

/// Why the whole file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file has a header line but no rows.")]
    HeaderOnly,
    #[error("The file is larger than 10 MiB.")]
    TooLarge,
    #[error("The file has more than 50,000 rows ({0} found).")]
    TooManyRows(usize),
    #[error("Line {0} is not UTF-8 text. Save the file as “CSV UTF-8” and upload it again.")]
    NotUtf8(u64),
    #[error("No {0} column: add a column headed {1}.")]
    MissingColumn(&'static str, String),
    #[error("The file is not readable CSV near line {0}: {1}")]
    Malformed(u64, String),
}

/// Rows shown in the preview.
const SAMPLE_ROWS: usize = 10;

fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_matches('"')
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn bounded(value: &str, what: &str, line: u64, errors: &mut Vec<LineError>) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > MAX_TEXT {
        errors.push(LineError {
            line,
            message: format!("The {what} is longer than {MAX_TEXT} characters."),
        });
        return None;
    }
    Some(value.to_owned())
}

/// Reads `bytes` as an import of `kind`.
pub fn parse(kind: ImportKind, bytes: &[u8]) -> Result<Parsed, FileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::Empty);
    }
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |c: u8| first_line.iter().filter(|b| **b == c).count();
    let delimiter = if count(b';') > count(b',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(malformed(&e)),
        None => return Err(FileError::Empty),
    };
    let header: Vec<String> = header
        .iter()
        .map(|cell| std::str::from_utf8(cell).map(normalise_header))
        .collect::<Result<_, _>>()
        .map_err(|_| FileError::NotUtf8(1))?;

    // Each field takes the first header among its synonyms (in the synonyms' order), and a
    // header feeds one field only.
    let mut taken: Vec<usize> = Vec::new();
    let mut columns: Vec<(Field, Option<String>)> = Vec::new();
    let mut index: HashMap<Field, usize> = HashMap::new();
    for (field, required) in kind.fields() {
        let found = field.synonyms().iter().find_map(|s| {
            let s = normalise_header(s);
            header
                .iter()
                .position(|h| *h == s)
                .filter(|i| !taken.contains(i))
        });
        match found {
            Some(i) => {
                taken.push(i);
                index.insert(*field, i);
                columns.push((*field, Some(header[i].clone())));
            }
            None if *required => {
                let names = field.synonyms()[..3.min(field.synonyms().len())]
                    .iter()
                    .map(|s| format!("“{s}”"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                return Err(FileError::MissingColumn(field.label(), names));
            }
            None => columns.push((*field, None)),
        }
    }

    let mut errors = Vec::new();
    let mut sample = Vec::new();
    let mut customers = Vec::new();
    let mut contacts = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut rows = 0usize;
    // Physical line numbers from byte offsets (the reader's own count skips blank lines).
    let (mut counted_to, mut line_at) = (0usize, 1u64);
    for record in records {
        let record = record.map_err(|e| malformed(&e))?;
        let mut offset = record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(counted_to)
            .min(bytes.len());
        // The reported start includes blank lines skipped before the record.
        while offset < bytes.len() && matches!(bytes[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset > counted_to {
            line_at += bytes[counted_to..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            counted_to = offset;
        }
        let line = line_at;
        let cells: Vec<&str> = record
            .iter()
            .map(std::str::from_utf8)
            .collect::<Result<_, _>>()
            .map_err(|_| FileError::NotUtf8(line))?;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows += 1;
        if rows > MAX_ROWS {
            continue;
        }
        if sample.len() < SAMPLE_ROWS {
            sample.push(cells.iter().map(|c| (*c).to_owned()).collect());
        }
        let cell = |f: Field| {
            index
                .get(&f)
                .and_then(|i| cells.get(*i))
                .copied()
                .unwrap_or("")
        };
        let mut duplicate = |key: String, what: String, errors: &mut Vec<LineError>| {
            if let Some(first) = seen.get(&key) {
                errors.push(LineError {
                    line,
                    message: format!("Line {line} repeats line {first} ({what})."),
                });
                true
            } else {
                seen.insert(key, line);
                false
            }
        };
        match kind {
            ImportKind::Customers => {
                let Some(name) =
                    bounded(cell(Field::CompanyName), "company name", line, &mut errors)
                else {
                    if cell(Field::CompanyName).trim().is_empty() {
                        errors.push(LineError {
                            line,
                            message: "The company name is empty.".into(),
                        });
                    }
                    continue;
                };
                let mut domains: Vec<CompanyDomain> = Vec::new();
                let mut bad = false;
                for part in cell(Field::Domains)
                    .split([',', ';', ' '])
                    .filter(|p| !p.trim().is_empty())
                {
                    match CompanyDomain::parse(part) {
                        Ok(d) if !domains.contains(&d) => domains.push(d),
                        Ok(_) => {}
                        Err(e) => {
                            bad = true;
                            errors.push(LineError {
                                line,
                                message: format!("“{}”: {e}", part.trim()),
                            });
                        }
                    }
                }
                if duplicate(
                    format!("name:{}", name.to_lowercase()),
                    format!("the company {name}"),
                    &mut errors,
                ) {
                    continue;
                }
                for d in &domains {
                    if duplicate(
                        format!("domain:{d}"),
                        format!("the domain {d}"),
                        &mut errors,
                    ) {
                        bad = true;
                    }
                }
                if !bad {
                    customers.push(CustomerRow {
                        line,
                        name,
                        domains,
                    });
                }
            }
            ImportKind::Contacts => {
                let email = match Email::parse(cell(Field::Email)) {
                    Ok(e) => e,
                    Err(_) if cell(Field::Email).trim().is_empty() => {
                        errors.push(LineError {
                            line,
                            message: "The email is empty.".into(),
                        });
                        continue;
                    }
                    Err(_) => {
                        errors.push(LineError {
                            line,
                            message: format!(
                                "“{}” is not an email address.",
                                cell(Field::Email).trim()
                            ),
                        });
                        continue;
                    }
                };
                let name = bounded(cell(Field::PersonName), "name", line, &mut errors);
                let title = bounded(cell(Field::Title), "title", line, &mut errors);
                let Some(customer) = bounded(cell(Field::Customer), "customer", line, &mut errors)
                else {
                    if cell(Field::Customer).trim().is_empty() {
                        errors.push(LineError {
                            line,
                            message: format!("No customer for {}.", email.as_str()),
                        });
                    }
                    continue;
                };
                if duplicate(
                    format!("email:{}", email.as_str()),
                    format!("the email {}", email.as_str()),
                    &mut errors,
                ) {
                    continue;
                }
                contacts.push(ContactRow {
                    line,
                    email,
                    name,
                    title,
                    customer,
                });
            }
        }
    }
    if rows > MAX_ROWS {
        return Err(FileError::TooManyRows(rows));
    }
    if rows == 0 {
        return Err(FileError::HeaderOnly);
    }
    Ok(Parsed {
        kind,
        columns,
        sample,
        rows: match kind {
            ImportKind::Customers => Rows::Customers(customers),
            ImportKind::Contacts => Rows::Contacts(contacts),
        },
        errors,
    })
}

fn malformed(e: &csv::Error) -> FileError {
    let line = e.position().map(|p| p.line()).unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => FileError::NotUtf8(line),
        _ => FileError::Malformed(line, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts(text: &[u8]) -> Result<Parsed, FileError> {
        parse(ImportKind::Contacts, text)
    }

    #[test]
    fn headers_are_found_by_synonym_with_a_bom_and_semicolons() {
        let parsed = contacts(
            b"\xEF\xBB\xBFE-Mail;Full Name;Job Title;Account\nPriya@Northwind.com ; Priya Patel;CTO;Northwind\n",
        )
        .unwrap();
        assert_eq!(parsed.errors, vec![]);
        let Rows::Contacts(rows) = parsed.rows else {
            panic!("contacts")
        };
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].email.as_str(), "priya@northwind.com");
        assert_eq!(rows[0].name.as_deref(), Some("Priya Patel"));
        assert_eq!(rows[0].title.as_deref(), Some("CTO"));
        assert_eq!(rows[0].customer, "Northwind");
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn customers_take_domains_split_inside_the_cell() {
        let parsed = parse(
            ImportKind::Customers,
            b"Company,Website\nNorthwind,\"northwind.com; www.northwind.de\"\nGlobex,\n",
        )
        .unwrap();
        let Rows::Customers(rows) = parsed.rows else {
            panic!("customers")
        };
        assert_eq!(rows[0].domains.len(), 2);
        assert_eq!(rows[1].domains, vec![]);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert_eq!(contacts(b"").unwrap_err(), FileError::Empty);
        assert_eq!(contacts(b"  \n").unwrap_err(), FileError::Empty);
        assert_eq!(
            contacts(b"email,company\n").unwrap_err(),
            FileError::HeaderOnly
        );
        assert!(matches!(
            contacts(b"name,company\nx,y\n").unwrap_err(),
            FileError::MissingColumn("Email", _)
        ));
        assert_eq!(
            contacts(b"email,company\na@b.com,B\nc@d.com,\xff\xfe\n").unwrap_err(),
            FileError::NotUtf8(3)
        );
        let many = format!("email,company\n{}", "a@b.com,B\n".repeat(MAX_ROWS + 1));
        assert_eq!(
            contacts(many.as_bytes()).unwrap_err(),
            FileError::TooManyRows(MAX_ROWS + 1)
        );
        assert_eq!(
            contacts(&vec![b'a'; MAX_FILE_BYTES + 1]).unwrap_err(),
            FileError::TooLarge
        );
    }

    #[test]
    fn row_problems_carry_their_line_numbers() {
        let parsed =
            contacts(b"email,company\nnot-an-email,B\na@b.com,B\n\nA@B.com ,C\nx@y.com,\n")
                .unwrap();
        assert_eq!(
            parsed.errors,
            vec![
                LineError {
                    line: 2,
                    message: "“not-an-email” is not an email address.".into()
                },
                LineError {
                    line: 5,
                    message: "Line 5 repeats line 3 (the email a@b.com).".into()
                },
                LineError {
                    line: 6,
                    message: "No customer for x@y.com.".into()
                },
            ]
        );
        let customers = parse(
            ImportKind::Customers,
            b"name,domains\nAcme,acme.com\nOther,\"x.com, acme.com\"\nacme,\n,z.com\n",
        )
        .unwrap();
        let lines: Vec<(u64, &str)> = customers
            .errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, "Line 3 repeats line 2 (the domain acme.com)."),
                (4, "Line 4 repeats line 2 (the company acme)."),
                (5, "The company name is empty."),
            ]
        );
    }
}
