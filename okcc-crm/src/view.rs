//! Masked views of customer records (requirement 8.2).
//!
//! A view is what one viewer may see of a record. Without full-number
//! access every phone number is masked ([`okcc_core::mask`]) and every
//! free-text field (name, company, e-mail, tags, notes, custom fields) goes
//! through a [`TextMasker`] that knows the record's numbers, so a number
//! copied into a display name or a note does not leak either.

use std::collections::BTreeMap;

use okcc_core::UserId;
use okcc_core::mask::{MaskMode, TextMasker, mask_best_effort};
use serde::Serialize;

use crate::customer::{Customer, CustomerId, PhoneKind};

/// Whether a viewer sees full numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumberAccess {
    /// Full numbers (`number.show_full`, or an active reveal grant).
    Full,
    /// Masked numbers in this mode.
    Masked(MaskMode),
}

/// One phone number as the viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PhoneView {
    /// What the number is for.
    pub kind: PhoneKind,
    /// The number, masked unless the viewer has full access.
    pub number: String,
}

/// A customer record as one viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CustomerView {
    /// The id.
    pub id: CustomerId,
    /// The version (pass it back to update).
    pub version: u64,
    /// Name.
    pub name: String,
    /// Company.
    pub company: Option<String>,
    /// Phone numbers.
    pub phones: Vec<PhoneView>,
    /// E-mail address.
    pub email: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Notes.
    pub notes: String,
    /// Custom fields.
    pub custom: BTreeMap<String, String>,
    /// The owning agent.
    pub owner: Option<UserId>,
    /// `true` if numbers and free text were masked.
    pub masked: bool,
}

impl CustomerView {
    /// The view of `customer` for a viewer with `access`.
    pub fn new(customer: &Customer, access: NumberAccess) -> Self {
        let f = &customer.fields;
        let (masker, mode) = match access {
            NumberAccess::Full => (None, None),
            NumberAccess::Masked(mode) => {
                let masker = f
                    .phones
                    .iter()
                    .fold(TextMasker::new(mode), |m, p| m.with_known_number(&p.number));
                (Some(masker), Some(mode))
            }
        };
        let text = |s: &str| masker.as_ref().map_or_else(|| s.to_owned(), |m| m.mask(s));
        Self {
            id: customer.id,
            version: customer.version,
            name: text(&f.name),
            company: f.company.as_deref().map(text),
            phones: f
                .phones
                .iter()
                .map(|p| PhoneView {
                    kind: p.kind,
                    number: mode
                        .map_or_else(|| p.number.clone(), |m| mask_best_effort(&p.number, m)),
                })
                .collect(),
            email: f.email.as_deref().map(text),
            tags: f.tags.iter().map(|t| text(t)).collect(),
            notes: text(&f.notes),
            custom: f.custom.iter().map(|(k, v)| (text(k), text(v))).collect(),
            owner: f.owner.clone(),
            masked: masker.is_some(),
        }
    }

    /// Every text of the view, for checks that nothing leaks.
    pub fn texts(&self) -> Vec<&str> {
        let mut out = vec![self.name.as_str(), self.notes.as_str()];
        out.extend(self.company.as_deref());
        out.extend(self.email.as_deref());
        out.extend(self.phones.iter().map(|p| p.number.as_str()));
        out.extend(self.tags.iter().map(String::as_str));
        out.extend(
            self.custom
                .iter()
                .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::customer::{CustomerFields, Phone};
    use okcc_core::TenantId;

    fn customer(number: &str, name: &str, notes: &str) -> Customer {
        let mut fields = CustomerFields::named(name);
        fields
            .phones
            .push(Phone::parse(PhoneKind::Mobile, number).unwrap());
        fields.notes = notes.to_owned();
        fields.email = Some(format!(
            "{}@example.com",
            number.replace(['+', ' ', '-'], "")
        ));
        fields.custom.insert("alt".into(), number.to_owned());
        Customer {
            id: CustomerId(1),
            tenant: TenantId::new("acme").unwrap(),
            version: 1,
            fields,
            created_at: std::time::SystemTime::UNIX_EPOCH,
            updated_at: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    /// Strips visual separators, so `138 1234 5678` is found as well.
    fn squeeze(s: &str) -> String {
        s.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
            .collect()
    }

    #[test]
    fn req_8_2_masked_view_hides_numbers_in_every_field() {
        let c = customer(
            "13812345678",
            "Zhang 138 1234 5678",
            "call back on 13812345678, ends 5678",
        );
        let v = CustomerView::new(&c, NumberAccess::Masked(MaskMode::MiddleFour));
        assert_eq!(v.phones[0].number, "138****5678");
        assert_eq!(v.name, "Zhang *** **** ****");
        assert_eq!(v.notes, "call back on ***********, ends ****");
        assert_eq!(v.email.as_deref(), Some("***********@example.com"));
        let full = CustomerView::new(&c, NumberAccess::Full);
        assert_eq!(full.phones[0].number, "13812345678");
        assert!(!full.masked);
    }

    proptest! {
        /// Requirement 8.2: a masked view never contains a full number,
        /// wherever in the record the number was written.
        #[test]
        fn req_8_2_masked_view_never_contains_full_number(
            cc in prop::option::of(prop::sample::select(vec!["+86 ", "+1 ", "+44 ", "0086"])),
            digits in "[1-9][0-9]{6,12}",
            sep in prop::sample::select(vec!["", " ", "-", "."]),
            prefix in "[a-zA-Z ]{0,10}",
            full in any::<bool>(),
        ) {
            let written: String = digits.chars().enumerate()
                .flat_map(|(i, c)| (if i > 0 && i % 3 == 0 { sep } else { "" }).chars().chain([c]))
                .collect();
            let number = format!("{}{written}", cc.unwrap_or(""));
            let text = format!("{prefix}{number}{prefix}");
            let c = customer(&number, &text, &text);
            let mode = if full { MaskMode::Full } else { MaskMode::MiddleFour };
            let view = CustomerView::new(&c, NumberAccess::Masked(mode));
            for t in view.texts() {
                prop_assert!(!squeeze(t).contains(&digits), "leak in {:?}", t);
            }
        }
    }
}
