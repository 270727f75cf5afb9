mod auth;
mod health;
mod mock_model;
