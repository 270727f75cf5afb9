mod health;
mod mock_model;
