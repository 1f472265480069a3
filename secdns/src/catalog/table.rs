//! One kind of object the catalog holds by name, each with where it was defined, and what
//! each kind checks against the rest of the catalog: the rules that are the same for every
//! kind are written once, in [`super::Catalog`]'s `add`, `replace` and `remove`.

use std::{collections::BTreeMap, fmt::Display};

use super::{Catalog, Origin, PeerDef, Refused, SecondaryDef, TsigKeyDef, defs};
use crate::{dns::Name, webhooks::WebhookDef};

/// The objects of one kind, by name.
#[derive(Clone, Debug)]
pub struct Table<T: Object> {
    items: BTreeMap<T::Name, (T, Origin)>,
}

impl<T: Object> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
        }
    }
}

impl<T: Object> Table<T> {
    pub fn get(&self, name: &T::Name) -> Option<(&T, Origin)> {
        self.items.get(name).map(|(def, origin)| (def, *origin))
    }

    pub fn contains(&self, name: &T::Name) -> bool {
        self.items.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&T, Origin)> {
        self.items.values().map(|(def, origin)| (def, *origin))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Those the control API made (kept in the state directory).
    pub fn made_by_api(&self) -> Vec<T> {
        self.iter()
            .filter(|(_, origin)| *origin == Origin::Api)
            .map(|(def, _)| def.clone())
            .collect()
    }

    /// An object may be added under its name only if none has it.
    pub fn absent(&self, name: &T::Name) -> Result<(), Refused> {
        match self.contains(name) {
            true => Err(Refused::conflict(format!(
                "{} {name} already exists",
                T::WHAT
            ))),
            false => Ok(()),
        }
    }

    /// The object named `name`, or the refusal that says there is none.
    pub fn found(&self, name: &T::Name) -> Result<(&T, Origin), Refused> {
        self.get(name)
            .ok_or_else(|| Refused::not_found(format!("{} {name} does not exist", T::WHAT)))
    }

    /// An object may be replaced or removed through the API if it exists and the config file
    /// does not fix it.
    pub fn changeable(&self, name: &T::Name) -> Result<(), Refused> {
        match self.found(name)? {
            (_, Origin::Config) => Err(Refused::conflict(format!(
                "{} {name} is defined in the config file; change it there",
                T::WHAT
            ))),
            (_, Origin::Api) => Ok(()),
        }
    }

    pub fn insert(&mut self, def: T, origin: Origin) {
        self.items.insert(def.name().clone(), (def, origin));
    }

    pub fn remove(&mut self, name: &T::Name) {
        self.items.remove(name);
    }
}

/// A kind of object in the catalog.
pub trait Object: Clone + Sized + 'static {
    type Name: Ord + Clone + Display;
    /// What the kind is called in messages ("TSIG key", "peer").
    const WHAT: &'static str;

    fn name(&self) -> &Self::Name;
    fn table(catalog: &Catalog) -> &Table<Self>;
    fn table_mut(catalog: &mut Catalog) -> &mut Table<Self>;

    /// The object's own checks, and its references to others, before it is added or
    /// replaces one. (Named apart from the kinds' own `check`, which it calls.)
    fn check_in(&self, catalog: &Catalog) -> Result<(), Refused>;

    /// Rules for a new one only (a limit on how many, a name taken elsewhere).
    fn check_new(&self, _catalog: &Catalog) -> Result<(), Refused> {
        Ok(())
    }

    /// Refuses the removal of `name` while another object refers to it.
    fn check_unused(_name: &Self::Name, _catalog: &Catalog) -> Result<(), Refused> {
        Ok(())
    }

    /// What goes with the object when it is removed.
    fn removed(_name: &Self::Name, _catalog: &mut Catalog) {}
}

/// Refuses the removal of `name`, a `T`, while a `U` refers to it.
fn unused_by<U: Object, T: Object>(
    name: &T::Name,
    catalog: &Catalog,
    refers: impl Fn(&U) -> bool,
) -> Result<(), Refused> {
    match U::table(catalog).iter().find(|(other, _)| refers(other)) {
        Some((other, _)) => Err(Refused::conflict(format!(
            "{} {name} is used by {} {}",
            T::WHAT,
            U::WHAT,
            other.name()
        ))),
        None => Ok(()),
    }
}

/// Refuses `def` if one of the `U`s it names in `field` does not exist.
fn all_exist<'a, U: Object, T: Object>(
    def: &T,
    field: &'static str,
    mut named: impl Iterator<Item = &'a U::Name>,
    catalog: &Catalog,
) -> Result<(), Refused> {
    match named.find(|name| !U::table(catalog).contains(name)) {
        Some(missing) => Err(Refused::conflict_at(
            field,
            format!(
                "{} {} names {} {missing}, which does not exist",
                T::WHAT,
                def.name(),
                U::WHAT
            ),
        )),
        None => Ok(()),
    }
}

/// What every kind has alike: the type of its names, what messages call it, its name (its
/// `name` field) and the catalog's table of the kind (`field`).
macro_rules! kind {
    ($what:literal named by $name:ty, held in $field:ident) => {
        type Name = $name;
        const WHAT: &'static str = $what;

        fn name(&self) -> &Self::Name {
            &self.name
        }
        fn table(catalog: &Catalog) -> &Table<Self> {
            &catalog.$field
        }
        fn table_mut(catalog: &mut Catalog) -> &mut Table<Self> {
            &mut catalog.$field
        }
    };
}

impl Object for TsigKeyDef {
    kind!("TSIG key" named by Name, held in keys);

    fn check_in(&self, _catalog: &Catalog) -> Result<(), Refused> {
        self.key().map(drop)
    }

    fn check_unused(name: &Name, catalog: &Catalog) -> Result<(), Refused> {
        unused_by::<PeerDef, Self>(name, catalog, |peer| peer.tsig.as_ref() == Some(name))
    }
}

impl Object for PeerDef {
    kind!("peer" named by String, held in peers);

    fn check_in(&self, catalog: &Catalog) -> Result<(), Refused> {
        self.check()?;
        let key = self.tsig.iter();
        all_exist::<TsigKeyDef, Self>(self, "tsig", key, catalog)
    }

    fn check_unused(name: &String, catalog: &Catalog) -> Result<(), Refused> {
        unused_by::<SecondaryDef, Self>(name, catalog, |zone| zone.peers.contains(name))
    }
}

impl Object for SecondaryDef {
    kind!("zone" named by Name, held in zones);

    fn check_in(&self, catalog: &Catalog) -> Result<(), Refused> {
        self.check()?;
        all_exist::<PeerDef, Self>(self, "peers", self.peers.iter(), catalog)
    }

    /// Its overrides.
    fn removed(name: &Name, catalog: &mut Catalog) {
        catalog.overrides.remove(name);
    }

    fn check_new(&self, catalog: &Catalog) -> Result<(), Refused> {
        match catalog.static_zones.contains(&self.name) {
            true => Err(Refused::conflict(format!(
                "zone {} is already served from a zone file",
                self.name
            ))),
            false => Ok(()),
        }
    }
}

impl Object for WebhookDef {
    kind!("webhook" named by String, held in webhooks);

    fn check_in(&self, _catalog: &Catalog) -> Result<(), Refused> {
        defs::check_webhook(self)
    }

    fn check_new(&self, catalog: &Catalog) -> Result<(), Refused> {
        match catalog.webhooks.len() >= defs::MAX_WEBHOOKS {
            true => Err(Refused::conflict(format!(
                "there are already {} webhooks",
                defs::MAX_WEBHOOKS
            ))),
            false => Ok(()),
        }
    }
}
