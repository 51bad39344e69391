//! Who operates the desk: a name typed at the start of a shift (not a biometric), kept for the
//! session only (never in eframe storage: the next shift types its own), changeable at any time
//! from the "Operator: NAME (change)" control, and written into every record
//! (`station.operator`, through `DecisionContext.operator`).

use eframe::egui::{self, RichText};

use super::theme;

/// Longest name accepted (it goes into every record and every table row).
pub const MAX_OPERATOR_CHARS: usize = 64;

/// Why a typed name was refused (worded for the operator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("type the operator's name")]
    Empty,
    #[error("at most {MAX_OPERATOR_CHARS} characters")]
    TooLong,
    #[error("letters, digits, spaces and punctuation only")]
    ControlCharacter,
}

/// A checked operator name: trimmed, not empty, no control characters, at most
/// [`MAX_OPERATOR_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorName(String);

impl OperatorName {
    pub fn parse(text: &str) -> Result<Self, OperatorError> {
        let name = text.trim();
        if name.is_empty() {
            return Err(OperatorError::Empty);
        }
        if name.chars().any(char::is_control) {
            return Err(OperatorError::ControlCharacter);
        }
        if name.chars().count() > MAX_OPERATOR_CHARS {
            return Err(OperatorError::TooLong);
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The operator of this session and the name being typed.
#[derive(Debug, Default)]
pub struct Operator {
    pub name: Option<OperatorName>,
    /// `Some` while the name field is shown (always, until a name is set).
    pub draft: Option<String>,
    pub error: Option<OperatorError>,
}

impl Operator {
    /// No name yet: the field is open from the start (the station asks at shift start).
    pub fn new() -> Self {
        Self {
            name: None,
            draft: Some(String::new()),
            error: None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(OperatorName::as_str)
    }

    /// Sets the operator from `text`; on a refused name the previous operator stays.
    pub fn set(&mut self, text: &str) -> Result<(), OperatorError> {
        match OperatorName::parse(text) {
            Ok(name) => {
                self.name = Some(name);
                self.draft = None;
                self.error = None;
                Ok(())
            }
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The control on the top bar: "Operator: NAME (change)", or the name field with Start shift.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let Some(draft) = &mut self.draft else {
            let name = self.name.as_ref().map_or("none", OperatorName::as_str);
            ui.label(format!("Operator: {name}"))
                .on_hover_text("Written into every record of this session");
            if ui
                .small_button("change")
                .on_hover_text("Another operator takes over the desk")
                .clicked()
            {
                self.draft = Some(self.name().unwrap_or_default().to_string());
            }
            return;
        };
        let label = ui.label(RichText::new("Operator").strong());
        let field = ui
            .add(
                egui::TextEdit::singleline(draft)
                    .desired_width(180.0)
                    .char_limit(MAX_OPERATOR_CHARS + 1)
                    .hint_text("your name (goes into every record)"),
            )
            .labelled_by(label.id);
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let text = draft.clone();
        let start = if self.name.is_some() {
            "Change operator"
        } else {
            "Start shift"
        };
        if ui.button(start).clicked() || entered {
            let _ = self.set(&text);
        }
        if self.name.is_some() && ui.small_button("cancel").clicked() {
            self.draft = None;
            self.error = None;
        }
        match &self.error {
            Some(e) => {
                ui.colored_label(theme::fail(ui.visuals()), e.to_string());
            }
            None if self.name.is_none() => {
                ui.colored_label(
                    theme::review(ui.visuals()),
                    "no operator: records will name none",
                );
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            OperatorName::parse("  Ana B ").map(|n| n.as_str().to_string()),
            Ok("Ana B".to_string())
        );
        assert_eq!(OperatorName::parse("   "), Err(OperatorError::Empty));
        assert_eq!(
            OperatorName::parse("a\u{7}b"),
            Err(OperatorError::ControlCharacter)
        );
        assert_eq!(
            OperatorName::parse(&"x".repeat(MAX_OPERATOR_CHARS + 1)),
            Err(OperatorError::TooLong)
        );
        let mut op = Operator::new();
        op.set("Ana").expect("accepted");
        assert!(op.set("").is_err());
        assert_eq!(op.name(), Some("Ana"), "a refused name keeps the operator");
    }
}
